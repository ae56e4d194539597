#!/usr/bin/env bash
# COSI output through a Lua recipe (imgrecipe.cosi) from the debian-base
# image, read back by an independent reader (helpers/cosi_read.py: python3
# tarfile + hashlib + the zstd CLI): tar order, sha384 and sizes, every image
# decompresses, filesystems check clean, the root's file tree equals the
# source's plus the recipe's change; then deployed as a provisioning agent
# does (GPT region and partition images written at their offsets into a
# blank disk, backup GPT relocated) and the deployed disk read back.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

out=$T_TMP/out/debian.cosi
sum_before=$(stat -c '%s %Y' "$IMG_PATH")
set +e
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/cosi.lua" --build-dir "$T_TMP/b" \
    --param input="$IMG_PATH" --param output="$out" --param report="$T_TMP/report" \
    2> "$T_TMP/run.log"
rc=$?
set -e
check_eq "recipe succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/run.log"; t_done; exit 1; }
check_eq "input untouched" "$sum_before" "$(stat -c '%s %Y' "$IMG_PATH")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "working files removed" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_eq "only the output in its directory" "debian.cosi" "$(ls -A "$T_TMP/out")"
check_contains "the root was shrunk" "$(cat "$T_TMP/run.log")" "partition 2 shrunk from $ROOT_SIZE to"

# ---- independent read-back ----
x=$T_TMP/x
mkdir -p "$x"
set +e
python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$out" "$x" > "$T_TMP/read.txt"
rc=$?
set -e
read=$(cat "$T_TMP/read.txt")
check_eq "reader finds nothing wrong" 0 "$rc"
[[ $rc -eq 0 ]] || grep '^bad:' "$T_TMP/read.txt" | head -20
check_eq "tar order" "order cosi-marker metadata.json images/debian_gpt.raw.zst images/debian_1.raw.zst images/debian_2.raw.zst" \
    "$(grep '^order ' <<< "$read")"
check_eq "metadata keys in ALIC's order" "keys version osArch disk images osRelease id bootloader osPackages compression" \
    "$(grep '^keys ' <<< "$read")"
check_contains "version 1.2" "$read" 'meta version="1.2"'
check_contains "osArch" "$read" 'meta osArch="x86_64"'
check_contains "grub" "$read" 'meta bootloader={"type": "grub"}'
check_contains "disk" "$read" "meta disk.size=$IMG_SIZE lbaSize=512 type=gpt"
check_contains "window" "$read" "meta maxWindowLog=27"
id=$(sed -n 's/^id=//p' "$T_TMP/report")
check_contains "id as reported by cosi.write" "$read" "meta id=\"$id\""
os_release=$(fs_cat "$IMG_PATH" "$ROOT_OFFSET" /usr/lib/os-release | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')
check_contains "osRelease verbatim" "$read" "meta osRelease=$os_release"
status=$(fs_cat "$IMG_PATH" "$ROOT_OFFSET" /var/lib/dpkg/status)
npk=$(grep -c '^Package: ' <<< "$status")
check_contains "one package per dpkg status entry" "$read" "meta packages=$npk"
bash_ver=$(awk '/^Package: bash$/ {p=1} p && /^Version:/ {print $2; exit}' <<< "$status")
check_contains "bash version, no release, arch" "$read" "meta bash=$bash_ver||amd64"
check_contains "ESP image" "$read" "image /boot/efi vfat $ESP_UUID c12a7328-f81f-11d2-ba4b-00a0c93ec93b $x/p1.raw"
check_contains "root image" "$read" "image / ext4 $ROOT_UUID"

gpt_size=$(awk '$1=="region" && $2=="primary-gpt" {print $5}' <<< "$read")
check_eq "GPT region: LBA 0 through the entry array" 17408 "$gpt_size"
# (Its entries differ from the source's: the root partition was shrunk.)
check_eq "GPT region: the source's protective MBR" "$(head -c 512 "$IMG_PATH" | sha256sum)" "$(head -c 512 "$x/gpt.raw" | sha256sum)"
check_eq "GPT region: the GPT header at LBA 1" "EFI PART" "$(dd if="$x/gpt.raw" bs=1 skip=512 count=8 status=none)"
check_eq "ESP image is the whole partition" "$ESP_SIZE" "$(stat -c %s "$x/p1.raw")"
root_size=$(stat -c %s "$x/p2.raw")
check "root image is smaller than the partition was (shrunk)" test "$root_size" -lt "$ROOT_SIZE"
check "root e2fsck -fn clean" e2fsck -fn "$x/p2.raw"
check "ESP fsck.fat -n clean" fsck.fat -n "$x/p1.raw"
check_eq "ESP unchanged" "$(dd if="$IMG_PATH" bs=1M skip=$((ESP_OFFSET / 1048576)) count=$((ESP_SIZE / 1048576)) status=none | sha256sum)" \
    "$(sha256sum < "$x/p1.raw")"
check_eq "the recipe's change is in the root image" "written before the COSI" "$(fs_cat "$x/p2.raw" 0 /etc/cosi-test)"

# File trees: the source root and the COSI root, mounted read-only in a
# private mount namespace (nothing can leak), listed with type, mode, owner,
# size, mtime and link target, and every file's content compared.
tree_cmp() {
    unshare -m --propagation private bash -c '
        set -e
        mkdir -p "$1/a" "$1/b"
        mount -o ro,noload,loop,offset="$3",sizelimit="$4" "$2" "$1/a"
        mount -o ro,noload,loop "$5" "$1/b"
        # Directories without size and mtime: shrinking rewrites directory
        # blocks, and /etc gains the recipe'"'"'s file.
        list() { (cd "$1" && find . \( -type d -printf "%p d %m %U:%G\n" \) -o -printf "%p %y %m %U:%G %s %T@ %l\n" |
                  LC_ALL=C sort); }
        list "$1/a" > "$1/a.txt"
        list "$1/b" > "$1/b.txt"
        diff "$1/a.txt" "$1/b.txt" > "$1/tree.diff" || true
        diff -r --no-dereference "$1/a" "$1/b" > "$1/content.diff" 2>&1 || true
    ' _ "$T_TMP/m" "$IMG_PATH" "$ROOT_OFFSET" "$ROOT_SIZE" "$x/p2.raw"
}
tree_cmp
check_eq "file tree equal but for the recipe's file" "> ./etc/cosi-test f 644 0:0 24" \
    "$(grep '^[<>]' "$T_TMP/m/tree.diff" | sed 's/ [0-9.]* *$//')"
check_eq "file contents equal but for the recipe's file" "Only in $T_TMP/m/b/etc: cosi-test" "$(cat "$T_TMP/m/content.diff")"
check_eq "no mount left after the comparison" 0 "$(mounts_under "$T_TMP")"

# ---- deploy as a provisioning agent does ----
dep=$T_TMP/deployed.raw
check "deployed (helpers/cosi_deploy.sh)" "$TESTS_DIR/integration/helpers/cosi_deploy.sh" "$T_TMP/read.txt" "$dep"
check_eq "deployed disk has the original size" "$IMG_SIZE" "$(stat -c %s "$dep")"
check "deployed table verifies" sfdisk --verify "$dep"
check_eq "backup GPT header in the last sector" "EFI PART" \
    "$(dd if="$dep" bs=512 skip=$((IMG_SIZE / 512 - 1)) count=1 status=none | head -c 8)"
dtable=$(sfdisk -J "$dep")
stable=$(sfdisk -J "$IMG_PATH")
for f in uuid type start; do
    check_eq "deployed partitions keep $f" "$(jq -c "[.partitiontable.partitions[].$f]" <<< "$stable")" \
        "$(jq -c "[.partitiontable.partitions[].$f]" <<< "$dtable")"
done
check_eq "deployed disk GUID" "$(jq -r .partitiontable.id <<< "$stable")" "$(jq -r .partitiontable.id <<< "$dtable")"
check_eq "deployed root partition has the shrunk size" "$root_size" \
    "$(( $(jq '.partitiontable.partitions[1].size' <<< "$dtable") * 512 ))"
check_eq "deployed ESP id" "$ESP_UUID" "$(blkid --probe --offset "$ESP_OFFSET" -s UUID -o value "$dep")"
check_eq "deployed root id" "$ROOT_UUID" "$(blkid --probe --offset "$ROOT_OFFSET" -s UUID -o value "$dep")"
check_eq "deployed root reads" "written before the COSI" "$(fs_cat "$dep" "$ROOT_OFFSET" /etc/cosi-test)"
check_eq "deployed root hostname" "$IMG_HOSTNAME" "$(fs_cat "$dep" "$ROOT_OFFSET" /etc/hostname)"
check "deployed root e2fsck -fn clean" e2fsck -fn "$dep?offset=$ROOT_OFFSET"
check "deployed ESP reads (mtools)" fat_cat "$dep" "$ESP_OFFSET" /EFI/BOOT/BOOTX64.EFI > /dev/null

# ---- a Disk (imgrecipe.disk A/B layout) written as COSI ----
set +e
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/cosi-disk.lua" --build-dir "$T_TMP/bd" \
    --param input="$IMG_PATH" --param output="$T_TMP/ab/ab.cosi" --param report="$T_TMP/ab-report" \
    2> "$T_TMP/ab.log"
rc=$?
set -e
check_eq "A/B disk recipe succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/ab.log"
check_eq "A/B: working files removed" "" "$(find "$T_TMP/bd" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_eq "A/B: no loop device left" 0 "$(all_loops)"
mkdir -p "$T_TMP/abx"
set +e
python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$T_TMP/ab/ab.cosi" "$T_TMP/abx" > "$T_TMP/ab-read.txt"
rc=$?
set -e
abread=$(cat "$T_TMP/ab-read.txt")
check_eq "A/B: reader finds nothing wrong" 0 "$rc"
check_eq "A/B: tar order" "order cosi-marker metadata.json images/ab_gpt.raw.zst images/ab_1.raw.zst images/ab_2.raw.zst images/ab_3.raw.zst images/ab_4.raw.zst" \
    "$(grep '^order ' <<< "$abread")"
check_eq "A/B: filesystems of the mounted partitions only (root-b is a region, not an image)" \
    "/boot/efi vfat p1|/ ext4 p2|/var/lib/state ext4 p4" \
    "$(awk '$1=="image" {n=split($6, a, "/"); sub(".raw", "", a[n]); printf "%s%s %s %s", sep, $2, $3, a[n]; sep="|"}' <<< "$abread")"
check "A/B: root-a e2fsck clean" e2fsck -fn "$T_TMP/abx/p2.raw"
check "A/B: root-b e2fsck clean" e2fsck -fn "$T_TMP/abx/p3.raw"
check "A/B: every ext4 shrunk below its partition" test "$(stat -c %s "$T_TMP/abx/p2.raw")" -lt $((1400 * 1048576))
check_eq "A/B: the OS copied into root-a" "$IMG_HOSTNAME" "$(fs_cat "$T_TMP/abx/p2.raw" 0 /etc/hostname)"

# ---- SIGINT while a partition is being compressed: nothing is left ----
# (multithreaded zstd, and one worker over the mapped working copy)
for workers in 0 1; do
rm -rf "$T_TMP/int" "$T_TMP/bi" "$T_TMP/int.log"
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/cosi.lua" --build-dir "$T_TMP/bi" \
    --param input="$IMG_PATH" --param output="$T_TMP/int/int.cosi" --param report="$T_TMP/ri" \
    --param level=19 --param workers=$workers 2> "$T_TMP/int.log" &
pid=$!
for _ in $(seq 600); do
    grep -q 'COSI: compressing partition 2' "$T_TMP/int.log" 2>/dev/null && break
    sleep 0.1
done
sleep 0.5
kill -INT "$pid"
t0=$(date +%s%N)
set +e
wait "$pid"
rc=$?
set -e
took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "workers $workers: interrupted run fails" test "$rc" -ne 0
check "workers $workers: stopped (teardown included) within 10 s of SIGINT, took ${took_ms} ms" test "$took_ms" -lt 10000
check_contains "workers $workers: it was compressing when interrupted" "$(cat "$T_TMP/int.log")" "COSI: compressing partition 2"
check_contains "workers $workers: the error says interrupted" "$(cat "$T_TMP/int.log")" "interrupted"
check_eq "workers $workers: interrupted: no output or temporary" "" "$(ls -A "$T_TMP/int" 2>/dev/null)"
check_eq "workers $workers: interrupted: build directory empty" "" "$(find "$T_TMP/bi" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_eq "workers $workers: interrupted: no loop device left" 0 "$(all_loops)"
check_eq "workers $workers: interrupted: no mount left" 0 "$(mounts_under "$T_TMP")"
done

# A bad argument is a usage error naming it; nothing is written.
set +e
err=$("$IMGRECIPE" run "$TESTS_DIR/integration/recipes/cosi.lua" --build-dir "$T_TMP/b2" \
    --param input="$IMG_PATH" --param output="$T_TMP/out2/bad.cosi" --param report="$T_TMP/r2" \
    --param level=99 2>&1)
rc=$?
set -e
check "level 99 refused" test "$rc" -ne 0
check_contains "the error names the level" "$err" "zstd level 99: expected 1 to 22"
check_not_contains "refused before any work" "$err" "shrunk"
check_eq "no output after a failure" "" "$(ls -A "$T_TMP/out2" 2>/dev/null)"
check_eq "no loop device left after a failure" 0 "$(all_loops)"

# The shrink binding writes only working files of the build directory.
cp --sparse=always "$IMG_PATH" "$T_TMP/outside.raw"
chmod 644 "$T_TMP/outside.raw"
sum_outside=$(sha256sum < "$T_TMP/outside.raw")
cat > "$T_TMP/shrink-outside.lua" <<LUA
return { name = "shrink-outside", params = {}, run = function(ctx)
  require("imgrecipe.host.cosi").shrink("$T_TMP/outside.raw")
end }
LUA
set +e
err=$("$IMGRECIPE" run "$T_TMP/shrink-outside.lua" --build-dir "$T_TMP/b3" 2>&1)
rc=$?
set -e
check "shrinking a file outside the build directory is refused" test "$rc" -ne 0
check_contains "the error says why" "$err" "is outside the build directory"
check_eq "the outside file is untouched" "$sum_outside" "$(sha256sum < "$T_TMP/outside.raw")"

# ---- the YAML path: output.image.format cosi, with its compression level ----
mkdir -p "$T_TMP/yaml"
cat > "$T_TMP/yaml/config.yaml" <<YAML
input: {image: {path: $IMG_PATH}}
os:
  hostname: cosi-from-yaml
output:
  image:
    path: $T_TMP/out3/from-yaml.cosi
    format: cosi
    cosi: {compression: {level: 3}}
YAML
set +e
"$IMGRECIPE" build "$T_TMP/yaml/config.yaml" --build-dir "$T_TMP/b4" > "$T_TMP/yaml.log" 2>&1
rc=$?
set -e
check_eq "YAML build with format cosi succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -20 "$T_TMP/yaml.log"
check_eq "YAML: only the output in its directory" "from-yaml.cosi" "$(ls -A "$T_TMP/out3" 2>/dev/null)"
mkdir -p "$T_TMP/x3"
set +e
python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$T_TMP/out3/from-yaml.cosi" "$T_TMP/x3" > "$T_TMP/read3.txt"
rc=$?
set -e
check_eq "YAML: reader finds nothing wrong" 0 "$rc"
check_eq "YAML: the hostname is in the root image" "cosi-from-yaml" \
    "$(debugfs -R 'cat /etc/hostname' "$T_TMP/x3/p2.raw" 2>/dev/null)"
check_eq "YAML: no loop device left" 0 "$(all_loops)"

t_done
