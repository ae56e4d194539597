#!/usr/bin/env bash
# A legacy-BIOS layout built from the Debian base image by a Lua recipe
# (imgrecipe.disk + imgrecipe.diskboot boot_type "legacy"): GPT with a
# bios-grub partition at 1 MiB and / on ext4; the image's own grub-install
# for i386-pc (Debian's grub-pc-bin and grub2-common, fetched with the host's
# `apt-get download` (the host is Debian 12 like the image), are installed
# into the new root first). It boots under SeaBIOS with / on the new root.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
base=$(base_image debian-base)

debs=$T_TMP/debs
mkdir -p "$debs"
(cd "$debs" && apt-get download grub-pc-bin grub2-common) > "$T_TMP/apt.log" 2>&1 \
    || { tail -5 "$T_TMP/apt.log"; t_fail "apt-get download grub-pc-bin grub2-common"; t_done; }

"$IMGRECIPE" run "$TESTS_DIR/boot/recipes/legacy-layout-boot.lua" --build-dir "$T_TMP/build" \
    --param input="$base" --param output="$T_TMP/legacy.qcow2" --param debs="$debs" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
raw=$T_TMP/legacy.raw
qemu-img convert -O raw "$T_TMP/legacy.qcow2" "$raw"
check_eq "bios-grub partition at 1 MiB" "21686148-6449-6E6F-744E-656564454649 2048" \
    "$(sfdisk -J "$raw" | jq -r '.partitiontable.partitions[0] | "\(.type) \(.start)"')"
check_contains "GRUB boot code in the MBR" "$(dd if="$raw" bs=512 count=1 status=none | strings)" "GRUB"
root_off=$(( $(sfdisk -J "$raw" | jq '.partitiontable.partitions[1].start') * 512 ))
root_uuid=$(blkid --probe --offset "$root_off" -s UUID -o value "$raw")
rm -f "$raw"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/legacy.qcow2" --format qcow2 --firmware bios --timeout 240 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "legacy layout boots under SeaBIOS and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_eq "/ on the new root partition" "/dev/vda2 ext4" "$(fact "mount /")"
check_eq "booted without UEFI" "no" "$(fact efi)"
check_contains "root= by UUID" "$(fact cmdline)" "root=UUID=$root_uuid"
t_done
