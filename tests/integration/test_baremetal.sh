#!/usr/bin/env bash
# baremetal-image output (ALIC: a COSI tar padded to 1 MiB with a fixed-VHD
# footer appended) from the debian-base image by `imgrecipe build`, read back
# by independent readers: qemu-img (a vpc of the padded size), the footer
# against the VHD specification (helpers/vhd_check.py), the tar as a COSI
# (helpers/cosi_read.py), the config's level in the frames (the zstd CLI makes
# the same bytes at -9 and other bytes at -22), the tar part deployed as an
# agent does. (ALIC's default level, 22, is tests/lua/test_cosi.lua's: level
# 22 of the whole Debian root was most of this test's minutes.)
# Then a storage (new layout) config with --output-image-format and
# --cosi-compression-level from the CLI, and removePackageManager refused.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/ab_layout.sh"
image_env debian-base
quiet() { "$@" > /dev/null; }

# Every check of a baremetal-image FILE; TAG names the checks, X is where
# the images are extracted. Sets READ (the reader's output) and BM_SIZE.
check_baremetal() {
    local tag=$1 file=$2 x=$3 rc info
    BM_SIZE=$(stat -c %s "$file")
    check_eq "$tag: size is whole MiB plus the 512-byte footer" 512 $((BM_SIZE % 1048576))
    info=$(qemu-img info -f vpc --output=json "$file")
    check_eq "$tag: qemu-img reads a vpc" vpc "$(jq -r .format <<< "$info")"
    check_eq "$tag: qemu-img's virtual size is the padded tar" $((BM_SIZE - 512)) "$(jq -r '.["virtual-size"]' <<< "$info")"
    set +e
    python3 "$TESTS_DIR/integration/helpers/vhd_check.py" "$file" > "$T_TMP/vhd.txt"
    rc=$?
    set -e
    check_eq "$tag: the footer is a valid fixed-VHD footer (spec, checksum, geometry)" 0 "$rc"
    [[ $rc -eq 0 ]] || cat "$T_TMP/vhd.txt"
    mkdir -p "$x"
    set +e
    python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$file" "$x" > "$x.txt"
    rc=$?
    set -e
    READ=$(cat "$x.txt")
    check_eq "$tag: the tar part is a COSI the reader finds nothing wrong with" 0 "$rc"
    [[ $rc -eq 0 ]] || grep '^bad:' "$x.txt" | head -20
    # The padding after the tar's end-of-archive blocks is zeros.
    local tar_end
    tar_end=$(python3 -c 'import sys, tarfile
t = tarfile.open(sys.argv[1], "r:"); t.getmembers(); print(t.offset)' "$file")
    check_eq "$tag: zeros from the tar's end to the footer" 0 \
        "$(tail -c +$((tar_end + 1)) "$file" | head -c $((BM_SIZE - 512 - tar_end)) | tr -d '\0' | wc -c)"
}

# ---- 1: YAML, no storage, the level from the config ------------------------
mkdir -p "$T_TMP/cfg"
cat > "$T_TMP/cfg/bm.yaml" <<YAML
input: {image: {path: $IMG_PATH}}
os:
  hostname: bm-from-yaml
output:
  image:
    path: $T_TMP/out/debian.vhd
    format: baremetal-image
    cosi:
      compression:
        level: 9
YAML
sum_before=$(sha256sum < "$IMG_PATH")
set +e
/usr/bin/time -f 'peak RSS %M KiB, %e s' -o "$T_TMP/time1" \
    "$IMGRECIPE" build "$T_TMP/cfg/bm.yaml" --build-dir "$T_TMP/b1" > "$T_TMP/b1.log" 2>&1
rc=$?
set -e
check_eq "1: build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/b1.log"
t_log "1: $(cat "$T_TMP/time1")"
check_eq "1: input unchanged (sha256)" "$sum_before" "$(sha256sum < "$IMG_PATH")"
check_eq "1: no loop device left" 0 "$(all_loops)"
check_eq "1: no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "1: working files removed" "" "$(find "$T_TMP/b1" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_eq "1: only the output in its directory" "debian.vhd" "$(ls -A "$T_TMP/out")"
log=$(cat "$T_TMP/b1.log")
check_contains "1: written as baremetal-image" "$log" "as baremetal-image"
check_contains "1: the root was shrunk" "$log" "partition 2 shrunk from $ROOT_SIZE to"

out=$T_TMP/out/debian.vhd
x=$T_TMP/x1
check_baremetal 1 "$out" "$x"
check_eq "1: tar order" "order cosi-marker metadata.json images/debian_gpt.raw.zst images/debian_1.raw.zst images/debian_2.raw.zst" \
    "$(grep '^order ' <<< "$READ")"
check_contains "1: maxWindowLog is the window used (27)" "$READ" "meta maxWindowLog=27"
check_contains "1: root image" "$READ" "image / ext4 $ROOT_UUID"
check_contains "1: ESP image" "$READ" "image /boot/efi vfat $ESP_UUID"
check_eq "1: the hostname is in the root image" "bm-from-yaml" "$(fs_cat "$x/p2.raw" 0 /etc/hostname)"
check "1: root e2fsck -fn clean" quiet e2fsck -fn "$x/p2.raw"
check "1: ESP fsck.fat -n clean" quiet fsck.fat -n "$x/p1.raw"

# Level 9: the zstd CLI at -9 with the same window, content size and
# checksum makes exactly the frames that are in the file (multithreaded
# zstd output does not depend on the thread count), and -22 does not.
frame() {  # frame IMAGE-PATH -> the zstd frame of that tar entry, skippable frame cut off
    python3 -c 'import sys, tarfile
sys.stdout.buffer.write(tarfile.open(sys.argv[1], "r:").extractfile(sys.argv[2]).read()[24:])' "$out" "$1"
}
for part in gpt:images/debian_gpt.raw.zst p1:images/debian_1.raw.zst; do
    IFS=: read -r f entry <<< "$part"
    frame "$entry" > "$T_TMP/$f.ours.zst"
    zstd -q -f -9 --long=27 -T2 "$x/$f.raw" -o "$T_TMP/$f.9.zst"
    zstd -q -f --ultra -22 --long=27 -T2 "$x/$f.raw" -o "$T_TMP/$f.other.zst"
    check "1: $f: level-9 frame (the CLI's -9 bytes)" cmp -s "$T_TMP/$f.ours.zst" "$T_TMP/$f.9.zst"
    check "1: $f: the comparison can fail (-22 differs)" \
        test "$(cmp -s "$T_TMP/$f.ours.zst" "$T_TMP/$f.other.zst"; echo $?)" -ne 0
done

# The tar part deployed as a provisioning agent does (helpers/cosi_deploy.sh).
dep=$T_TMP/deployed.raw
check "1: tar part deployed" "$TESTS_DIR/integration/helpers/cosi_deploy.sh" "$x.txt" "$dep"
check "1: deployed table verifies" quiet sfdisk --verify "$dep"
check_eq "1: deployed root reads" "bm-from-yaml" "$(fs_cat "$dep" "$ROOT_OFFSET" /etc/hostname)"
check_eq "1: deployed root id" "$ROOT_UUID" "$(blkid --probe --offset "$ROOT_OFFSET" -s UUID -o value "$dep")"
rm -rf "$dep" "$x" "$T_TMP"/*.zst

# As an input, a baremetal-image is a fixed VHD whose disk is the tar.
set +e
err=$("$IMGRECIPE" convert --image-file "$out" --output-image-file "$T_TMP/back/tar.raw" --output-image-format raw \
    --build-dir "$T_TMP/b1" 2>&1)
rc=$?
set -e
check_eq "1: converting it back to raw succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || echo "$err" | tail -5
check_eq "1: the raw disk is the padded tar" "$(head -c $((BM_SIZE - 512)) "$out" | sha256sum)" "$(sha256sum < "$T_TMP/back/tar.raw")"
rm -rf "$T_TMP/back" "$out"

# ---- 2: storage config, format and level from the CLI -----------------------
ab_layout_config "$T_TMP/cfg/ab.yaml" "$T_TMP/unused.qcow2"
set +e
"$IMGRECIPE" build "$T_TMP/cfg/ab.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b2" \
    --output-image-file "$T_TMP/out2/ab.img" --output-image-format baremetal-image --cosi-compression-level 3 \
    > "$T_TMP/b2.log" 2>&1
rc=$?
set -e
check_eq "2: storage build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/b2.log"
check_eq "2: no loop device left" 0 "$(all_loops)"
check_eq "2: no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "2: working files removed" "" "$(find "$T_TMP/b2" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_eq "2: only the output in its directory" "ab.img" "$(ls -A "$T_TMP/out2")"
check_eq "2: the qcow2 path of the config is not written" "" "$(ls "$T_TMP/unused.qcow2" 2>/dev/null)"
x=$T_TMP/x2
check_baremetal 2 "$T_TMP/out2/ab.img" "$x"
check_eq "2: tar order (4 partitions of the new layout)" \
    "order cosi-marker metadata.json images/ab_gpt.raw.zst images/ab_1.raw.zst images/ab_2.raw.zst images/ab_3.raw.zst images/ab_4.raw.zst" \
    "$(grep '^order ' <<< "$READ")"
check_contains "2: the new layout's disk size" "$READ" "meta disk.size=$((4096 * 1048576)) "
check_eq "2: filesystems of the mounted partitions" "/boot/efi vfat p1|/ ext4 p2|/var/lib/state xfs p4" \
    "$(awk '$1=="image" {n=split($6, a, "/"); sub(".raw", "", a[n]); printf "%s%s %s %s", sep, $2, $3, a[n]; sep="|"}' <<< "$READ")"
check "2: root-a e2fsck -fn clean" quiet e2fsck -fn "$x/p2.raw"
check "2: root-a shrunk below its 1536 MiB" test "$(stat -c %s "$x/p2.raw")" -lt $((1536 * 1048576))
check_contains "2: the customization is in root-a" "$(fs_cat "$x/p2.raw" 0 /usr/local/bin/imgrecipe-check)" "IRCHECK-DONE"
# Level 3 from the CLI: the CLI's -3 makes the same GPT frame.
python3 -c 'import sys, tarfile
sys.stdout.buffer.write(tarfile.open(sys.argv[1], "r:").extractfile("images/ab_gpt.raw.zst").read()[24:])' \
    "$T_TMP/out2/ab.img" > "$T_TMP/gpt2.zst"
zstd -q -f -3 --long=27 -T2 "$x/gpt.raw" -o "$T_TMP/gpt2.3.zst"
check "2: --cosi-compression-level 3 is the level used" cmp -s "$T_TMP/gpt2.zst" "$T_TMP/gpt2.3.zst"
rm -rf "$x" "$T_TMP/out2"

# ---- 3: refused before any work ---------------------------------------------
refused() {  # refused TAG EXPECTED-MESSAGE imgrecipe-args...
    local tag=$1 want=$2 err rc
    shift 2
    set +e
    err=$("$IMGRECIPE" "$@" 2>&1)
    rc=$?
    set -e
    check "3: $tag: fails" test "$rc" -ne 0
    check_contains "3: $tag: the message" "$err" "$want"
    check_not_contains "3: $tag: before the image is opened" "$err" "[open] start"
}
cat > "$T_TMP/cfg/rpm.yaml" <<YAML
input: {image: {path: $IMG_PATH}}
os: {packages: {removePackageManager: true}}
previewFeatures: [remove-package-manager]
output: {image: {path: $T_TMP/out3/x.vhd, format: baremetal-image}}
YAML
refused "removePackageManager with baremetal-image (config)" \
    "os.packages.removePackageManager: cannot be used with the 'baremetal-image' output format" \
    build "$T_TMP/cfg/rpm.yaml" --build-dir "$T_TMP/b3"
sed -i 's/format: baremetal-image/format: raw/' "$T_TMP/cfg/rpm.yaml"
refused "removePackageManager with baremetal-image (CLI format)" \
    "os.packages.removePackageManager cannot be used with the 'baremetal-image' output format" \
    build "$T_TMP/cfg/rpm.yaml" --build-dir "$T_TMP/b3" --output-image-format baremetal-image
refused "level out of range" "--cosi-compression-level 23: expected a whole number from 1 to 22" \
    build "$T_TMP/cfg/bm.yaml" --build-dir "$T_TMP/b3" --cosi-compression-level 23
check_eq "3: nothing written" "" "$(find "$T_TMP/out3" "$T_TMP/out" -mindepth 1 2>/dev/null)"
check_eq "3: no loop device left" 0 "$(all_loops)"

t_done
