#!/usr/bin/env bash
# A verity layout written as COSI (issue 10 §2, alic-reference §3.1): the
# layout of tests/lib/verity_layout.sh built by `imgrecipe build` with output
# format cosi, read back by the independent reader (helpers/cosi_read.py):
# the root's entry carries the `verity` object (the hash partition's image and
# the root hash of grub.cfg), the hash partition is not listed as a
# filesystem, the extracted data and hash images verify with `veritysetup
# verify` against the metadata's roothash (so nothing shrank the hashed data),
# and the writable /var was shrunk as ALIC shrinks. Then that COSI deployed
# and converted again by `imgrecipe convert` (an image that already uses
# verity): its devices are read back, the root and hash partitions are
# neither shrunk nor mounted read-write, the hash still holds, and the COSI
# carries the same verity object.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
image_env debian-dracut

out=$T_TMP/out/verity.cosi
verity_layout_config "$T_TMP/v.yaml" "$out" cosi
set +e
"$IMGRECIPE" build "$T_TMP/v.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2> "$T_TMP/build.log"
rc=$?
set -e
check_eq "build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/build.log"; t_done; exit 1; }
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
log=$(cat "$T_TMP/build.log")
check_contains "root data partition not shrunk" "$log" "partition 3 not shrunk: it is dm-verity data or hash"
check_contains "hash partition not shrunk" "$log" "partition 4 not shrunk: it is dm-verity data or hash"
check_contains "writable /var shrunk" "$log" "partition 5 shrunk from"

x=$T_TMP/x
mkdir -p "$x"
set +e
python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$out" "$x" > "$T_TMP/read.txt"
rc=$?
set -e
read=$(cat "$T_TMP/read.txt")
check_eq "reader finds nothing wrong" 0 "$rc"
[[ $rc -eq 0 ]] || grep '^bad:' "$T_TMP/read.txt" | head -20
check_eq "five partition regions" 5 "$(grep -c '^region partition ' <<< "$read")"
check_eq "four filesystems: ESP, /boot, /, /var (not the hash partition)" "/ /boot /boot/efi /var" \
    "$(awk '$1 == "image" {print $2}' <<< "$read" | sort | tr '\n' ' ' | sed 's/ $//')"
check_not_contains "hash partition image not listed as a filesystem" "$(grep '^image ' <<< "$read")" "$x/p4.raw"
vline=$(grep '^verity ' <<< "$read" || true)
check_eq "one verity object" 1 "$(grep -c '^verity ' <<< "$read" || true)"
read -r _ vmount roothash hashfile hashoffset <<< "$vline"
check_eq "verity object on /" "/" "$vmount"
check_eq "verity image is the hash partition's" "$x/p4.raw" "$hashfile"
check_eq "no hashOffset for a separate hash partition" "-" "$hashoffset"
grubcfg=$(fs_cat "$x/p2.raw" 0 /grub/grub.cfg)
check_contains "roothash is grub.cfg's" "$grubcfg" "roothash=$roothash "
check "veritysetup verify: extracted root and hash images against the metadata's roothash" \
    veritysetup verify "$x/p3.raw" "$x/p4.raw" "$roothash"
data_blocks=$(veritysetup dump "$x/p4.raw" | awk -F: '/Data blocks/ {gsub(/ /, "", $2); print $2}')
check_eq "root image holds every hashed block" "$(( data_blocks * 4096 ))" "$(stat -c %s "$x/p3.raw")"
# The COSI deployed as an agent does, then converted to COSI again by
# `imgrecipe convert` (an image made elsewhere: no tree known, its root
# filesystem fills its partition): nothing is shrunk, the hash still holds.
check "deployed" "$TESTS_DIR/integration/helpers/cosi_deploy.sh" "$T_TMP/read.txt" "$T_TMP/deployed.raw"
check_eq "root filesystem fills its partition (convert would shrink it)" "$(stat -c %s "$x/p3.raw")" \
    "$(dumpe2fs -h "$x/p3.raw" 2>/dev/null | awk -F: '/^Block count/ {n = $2} /^Block size/ {b = $2} END {printf "%.0f", n * b}')"
set +e
"$IMGRECIPE" convert --image-file "$T_TMP/deployed.raw" --output-image-file "$T_TMP/again.cosi" \
    --output-image-format cosi --cosi-compression-level 1 --build-dir "$T_TMP/b" 2> "$T_TMP/convert.log"
rc=$?
set -e
check_eq "convert of the deployed verity disk succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -20 "$T_TMP/convert.log"
# The deployed disk already uses verity (fstab /dev/mapper/root, the
# arguments in grub.cfg): its devices are read back (img:verity()), so the
# verity partitions are kept whole and the COSI gets the verity object.
check_contains "converted: root data partition not shrunk" "$(cat "$T_TMP/convert.log")" \
    "partition 3 not shrunk: it is dm-verity data or hash"
check_contains "converted: hash partition not shrunk" "$(cat "$T_TMP/convert.log")" \
    "partition 4 not shrunk: it is dm-verity data or hash"
rm -f -- "$T_TMP/deployed.raw"
mkdir -p "$T_TMP/y"
check "reader: converted COSI" python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$T_TMP/again.cosi" "$T_TMP/y" \
    > "$T_TMP/read2.txt"
check "veritysetup verify: the converted COSI's root and hash images" \
    veritysetup verify "$T_TMP/y/p3.raw" "$T_TMP/y/p4.raw" "$roothash"
vline2=$(grep '^verity ' "$T_TMP/read2.txt" || true)
check_eq "converted COSI: one verity object (was null)" 1 "$(grep -c '^verity ' "$T_TMP/read2.txt" || true)"
read -r _ vmount2 roothash2 hashfile2 hashoffset2 <<< "$vline2"
check_eq "converted COSI: verity object on /, the hash partition's image, the same roothash" \
    "/ $T_TMP/y/p4.raw $roothash -" "$vmount2 $hashfile2 $roothash2 $hashoffset2"
rm -rf -- "$T_TMP/y" "$T_TMP/again.cosi"

# A flipped byte in the extracted data fails against the same roothash.
python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(409607); b = f.read(1); f.seek(409607); f.write(bytes([b[0] ^ 0xff]))' "$x/p3.raw"
check "one flipped byte fails verification" bash -c "! veritysetup verify '$x/p3.raw' '$x/p4.raw' '$roothash' 2>/dev/null"
t_done
