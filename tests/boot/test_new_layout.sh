#!/usr/bin/env bash
# A new GPT layout built from the Debian base image by a Lua recipe
# (imgrecipe.disk + imgrecipe.diskboot): ESP, / on ext4, /var on xfs, fstab
# by PARTUUID, a new EFI GRUB that finds the new root filesystem, grub.cfg
# regenerated with root=PARTUUID=, the initramfs regenerated. It boots, and a
# check unit prints what is mounted where.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
base=$(base_image debian-base)

"$IMGRECIPE" run "$TESTS_DIR/boot/recipes/new-layout-boot.lua" --build-dir "$T_TMP/build" \
    --param input="$base" --param output="$T_TMP/new.qcow2" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }

raw=$T_TMP/new.raw
qemu-img convert -O raw "$T_TMP/new.qcow2" "$raw"
table=$(sfdisk -J "$raw")
partuuid() { jq -r ".partitiontable.partitions[$1].uuid" <<< "$table" | tr 'A-F' 'a-f'; }
root_pu=$(partuuid 1)
var_pu=$(partuuid 2)
rm -f "$raw"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/new.qcow2" --format qcow2 --timeout 240 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "new layout boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
root_dev=$(fact "mount /")
check_contains "/ is ext4" "$root_dev" " ext4"
check_contains "/var is xfs" "$(fact "mount /var")" " xfs"
check_contains "/boot/efi is vfat" "$(fact "mount /boot/efi")" " vfat"
check_contains "kernel booted with root=PARTUUID of the new root" "$(fact cmdline)" "root=PARTUUID=$root_pu"
# The partitions are the new disk's: vda2 for /, vda3 for /var.
check_eq "/ on the second partition" "/dev/vda2 ext4" "$root_dev"
check_eq "/var on the third partition" "/dev/vda3 xfs" "$(fact "mount /var")"
check "root and var PARTUUIDs differ" test "$root_pu" != "$var_pu"
t_done
