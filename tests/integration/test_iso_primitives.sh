#!/usr/bin/env bash
# The boot media primitives (imgrecipe.squashfs, imgrecipe.iso) through a
# Lua recipe on the debian-base image: a squashfs of its OS (mounted
# read-only) read back with unsquashfs (a file and user.* / security.*
# extended attributes survive, exclusions hold), a hybrid ISO (UEFI FAT El
# Torito image + appended ESP, BIOS GRUB El Torito + hybrid MBR) read back
# with xorriso, sfdisk and fdisk, and through imgrecipe.iso's reader; error
# paths (missing source, missing tool, bad volume ID) are clear and leave
# nothing behind.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

# A copy with extended attributes on /etc/hostname (debugfs, no mount).
input=$T_TMP/input.raw
cp --sparse=always "$IMG_PATH" "$input"
debugfs -w -R "ea_set /etc/hostname user.imgrecipe kept-user" "$input?offset=$ROOT_OFFSET" 2>/dev/null
debugfs -w -R "ea_set /etc/hostname security.imgrecipe kept-security" "$input?offset=$ROOT_OFFSET" 2>/dev/null
check_contains "the input has the xattrs" "$(debugfs -R 'ea_list /etc/hostname' "$input?offset=$ROOT_OFFSET" 2>/dev/null)" \
    'security.imgrecipe (13) = "kept-security"'
sum_before=$(sha256sum < "$input")

out=$T_TMP/out
set +e
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/iso-primitives.lua" --build-dir "$T_TMP/b" \
    --param input="$input" --param out="$out" --param report="$T_TMP/report" 2> "$T_TMP/run.log"
rc=$?
set -e
check_eq "recipe succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/run.log"; t_done; exit 1; }
check_eq "input untouched" "$sum_before" "$(sha256sum < "$input")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "working files removed" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_eq "only the outputs in their directory" "live.iso root.squashfs" "$(ls -A "$out" | tr '\n' ' ' | sed 's/ $//')"

# ---- squashfs read back with squashfs-tools ----
sq=$out/root.squashfs
listing=$(unsquashfs -lln -d "" "$sq")
check_contains "squashfs has /etc/hostname" "$listing" " /etc/hostname"
check_contains "squashfs has /usr/bin/bash" "$listing" " /usr/bin/bash"
check_contains "/proc kept as an empty directory" "$listing" " /proc"
paths=$(awk '{print $6}' <<< "$listing")
check_eq "/proc's content excluded" "" "$(grep -E '^/(proc|sys|dev|run)/' <<< "$paths" || true)"
check_eq "the staged ESP's content excluded" "" "$(grep '^/boot/efi/' <<< "$paths" || true)"
check_eq "the staged ESP's mount point kept" "/boot/efi" "$(grep -x /boot/efi <<< "$paths")"
check_contains "the kernel in /boot kept" "$listing" " /boot/vmlinuz-$KERNEL_VERSION"
check_contains "times fixed by the timestamp" "$(grep ' /etc/hostname$' <<< "$listing")" "2023-11-14 22:13"
unsquashfs -q -d "$T_TMP/sqx" "$sq" etc/hostname > /dev/null
check_eq "file content survives" "$(fs_cat "$IMG_PATH" "$ROOT_OFFSET" /etc/hostname)" "$(cat "$T_TMP/sqx/etc/hostname")"
check_eq "user.* xattr survives" "kept-user" "$(getfattr --absolute-names --only-values -n user.imgrecipe "$T_TMP/sqx/etc/hostname")"
check_eq "security.* xattr survives" "kept-security" "$(getfattr --absolute-names --only-values -n security.imgrecipe "$T_TMP/sqx/etc/hostname")"

# ---- the ISO read back with xorriso, sfdisk, fdisk ----
iso=$out/live.iso
eltorito=$(xorriso -indev "$iso" -report_el_torito plain 2>/dev/null)
check_contains "El Torito: a BIOS entry (platform 0x00)" "$eltorito" "El Torito boot img :   1  BIOS  y   none"
check_contains "El Torito: a UEFI entry (platform 0xef)" "$eltorito" "El Torito boot img :   2  UEFI  y   none"
check_contains "BIOS image path" "$eltorito" "El Torito img path :   1  /boot/grub/i386-pc/eltorito.img"
check_contains "GRUB boot info patched" "$eltorito" "El Torito img opts :   1  boot-info-table grub2-boot-info"
check_contains "volume ID" "$(xorriso -indev "$iso" -pvd_info 2>/dev/null)" "Volume Id    : IMGRECIPE_LIVE"
table=$(sfdisk -J "$iso")
check_eq "isohybrid: a GPT" "gpt" "$(jq -r .partitiontable.label <<< "$table")"
check_eq "the appended ESP is an EFI System partition" "1" \
    "$(jq '[.partitiontable.partitions[] | select(.type == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B")] | length' <<< "$table")"
esp_start=$(jq '.partitiontable.partitions[] | select(.type == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B") | .start' <<< "$table")
check_contains "fdisk sees the partitions" "$(fdisk -l "$iso")" "EFI System"
check_eq "the ESP holds the EFI loader" "configfile /boot/grub/grub.cfg" \
    "$(MTOOLS_SKIP_CHECK=1 mtype -i "$iso@@$((esp_start * 512))" ::/EFI/BOOT/grub.cfg)"
check "the ESP is a clean FAT filesystem" bash -c "dd if='$iso' bs=512 skip=$esp_start count=\$(( $(jq '.partitiontable.partitions[] | select(.type == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B") | .size' <<< "$table") )) status=none > '$T_TMP/esp.img' && fsck.fat -n '$T_TMP/esp.img' > /dev/null"
check_eq "the MBR is GRUB's hybrid boot code" "$(head -c 432 /usr/lib/grub/i386-pc/boot_hybrid.img | sha256sum)" \
    "$(head -c 432 "$iso" | sha256sum)"
xorriso -osirrox on -indev "$iso" -extract /LiveOS/squashfs.img "$T_TMP/sq-from-iso" 2>/dev/null
check "the squashfs on the ISO is the one made" cmp -s "$sq" "$T_TMP/sq-from-iso"

# ---- the same through imgrecipe.iso's reader (the recipe's report) ----
report=$(cat "$T_TMP/report")
check_contains "reader: volume ID" "$report" "volume_id=IMGRECIPE_LIVE"
check_contains "reader: BIOS entry" "$report" "entry 1 platform=0x00 bootable=true path=/boot/grub/i386-pc/eltorito.img"
check_contains "reader: UEFI entry (the appended ESP)" "$report" "entry 2 platform=0xef bootable=true path="
check_contains "reader: GPT ESP" "$report" "c12a7328-f81f-11d2-ba4b-00a0c93ec93b Appended2"
check_contains "reader: squashfs size" "$report" "squashfs_size=$(stat -c %s "$sq")"
check_contains "reader: grub.cfg content" "$report" "grub_cfg_first=set timeout=1"
check_contains "reader: boot images extracted" "$report" \
    "boot_images=eltorito_catalog.img eltorito_img1_bios.img eltorito_img2_uefi.img gpt_part2_efi.img mbr_code_grub2.img systemarea.img"
check_contains "reader: the UEFI El Torito image is the FAT image put in" "$report" "uefi_image_is_efiboot=true"
mode=$(fs_mode "$IMG_PATH" "$ROOT_OFFSET" /etc/hostname)
check_contains "squashfs reader: mode and size" "$report" "sq_hostname mode=${mode#0} size=$(stat -c %s "$T_TMP/sqx/etc/hostname")"

# ---- error paths ----
run_case() {  # run_case CASE [env...] -> output in $err, exit code in $erc
    local c=$1; shift
    set +e
    env "$@" "$IMGRECIPE" run "$TESTS_DIR/integration/recipes/iso-errors.lua" --build-dir "$T_TMP/eb" \
        --param case="$c" --param out="$T_TMP/eout" > /dev/null 2> "$T_TMP/err.log"
    erc=$?
    set -e
    err=$(cat "$T_TMP/err.log")
}
run_case missing-source
check "missing ISO source: fails" test "$erc" -ne 0
check_contains "missing ISO source: named" "$err" "files[1] (/payload): $T_TMP/eb/"
check_contains "missing ISO source: why" "$err" "no-such-payload: No such file or directory"
run_case missing-squashfs-source
check "missing squashfs source: fails" test "$erc" -ne 0
check_contains "missing squashfs source: named" "$err" "no-such-dir"
bin=$T_TMP/bin  # every tool but the one under test
mkdir -p "$bin"
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    for f in "$d"/*; do [[ -e $bin/${f##*/} ]] || ln -s "$f" "$bin/${f##*/}"; done
done
rm -f "$bin/xorriso" "$bin/mksquashfs"
run_case iso-tool PATH="$bin"
check "xorriso missing: fails" test "$erc" -ne 0
check_contains "xorriso missing: names the Debian package" "$err" "xorriso is not installed on this host (Debian package xorriso)"
run_case squashfs-tool PATH="$bin"
check_contains "mksquashfs missing: names the Debian package" "$err" "mksquashfs is not installed on this host (Debian package squashfs-tools)"
run_case bad-volume-id
check_contains "volume ID too long: usage error" "$err" "is longer than 32 characters"

# SIGINT while mksquashfs / xorriso run: the tool is stopped, the run ends
# "interrupted", and neither the output nor its temporary is left.
for c in slow-squashfs:mksquashfs slow-iso:xorriso; do
    name=${c%%:*} tool=${c##*:}
    "$IMGRECIPE" run "$TESTS_DIR/integration/recipes/iso-errors.lua" --build-dir "$T_TMP/eb" \
        --param case="$name" --param out="$T_TMP/eout" > "$T_TMP/$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        pgrep -f "^$tool .*$T_TMP/eb" > /dev/null && break
        sleep 0.05
    done
    check "$name: $tool started" pgrep -f "^$tool .*$T_TMP/eb"
    ls -A "$T_TMP/eout" > "$T_TMP/$name.during" 2>/dev/null || true
    kill -INT "$pid"
    set +e
    wait "$pid"
    rc=$?
    set -e
    check_eq "$name: exit code 130" 130 "$rc"
    check_contains "$name: interrupted" "$(cat "$T_TMP/$name.log")" "interrupted"
    check_contains "$name: a temporary was being written" "$(cat "$T_TMP/$name.during")" ".tmp-"
    check_eq "$name: $tool stopped" "" "$(pgrep -f "^$tool .*$T_TMP/eb" || true)"
    check_eq "$name: no output, no temporary" "" "$(ls -A "$T_TMP/eout" 2>/dev/null)"
done
check_eq "no output after any failure" "" "$(ls -A "$T_TMP/eout" 2>/dev/null)"

# Fault injection: each host operation of a small build with every
# primitive fails in turn; every run fails naming the fault and leaves no
# temporary output (only the outputs completed before the fault).
run_case small IMGRECIPE_FAULT_INJECT=count
check_eq "small build succeeds" 0 "$erc"
n=$(sed -n 's/.*fault injection: \([0-9]*\) host operations.*/\1/p' <<< "$err")
check "small build has host operations to fail ($n)" test "${n:-0}" -gt 5
bad=""
for ((i = 1; i <= ${n:-0}; i++)); do
    rm -rf "$T_TMP/eout"
    run_case small IMGRECIPE_FAULT_INJECT=$i
    [[ $erc -ne 0 && $err == *"injected fault at host operation $i "* ]] || bad+=" $i(rc=$erc)"
    [[ -z $(find "$T_TMP/eout" -name '.*tmp-*' 2>/dev/null) ]] || bad+=" $i(temporary left)"
    [[ -z $(find "$T_TMP/eb" -mindepth 1 -maxdepth 1 2>/dev/null) ]] || bad+=" $i(working files left)"
    [[ $err != *"left behind"* ]] || bad+=" $i(left behind)"
done
check_eq "every injected fault fails the run and leaves nothing" "" "$bad"
rm -rf "$T_TMP/eout"
check_eq "no working files after failures" "" "$(find "$T_TMP/eb" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_eq "no loop device left" 0 "$(all_loops)"

t_done
