#!/usr/bin/env bash
# storage.resetPartitionsUuidsType: reset-all, booted: the image built (and
# read back offline) by tests/integration/test_reset_uuids.sh boots with
# every id new: the ESP's GRUB finds the root by its new UUID, the kernel
# gets root=UUID=<new>, fstab mounts the ESP by its new volume ID.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

img=$T_TMP/reset.qcow2
if RESET_UUIDS_KEEP=$img bash "$TESTS_DIR/integration/test_reset_uuids.sh" > "$T_TMP/offline.log" 2>&1; then
    t_pass "offline checks ($(tail -1 "$T_TMP/offline.log"))"
else
    grep -a '^FAIL' "$T_TMP/offline.log" || tail -20 "$T_TMP/offline.log"
    t_fail "offline checks"
    t_done
fi
raw=$T_TMP/reset.raw
qemu-img convert -O raw "$img" "$raw"
source "$(dirname "$(base_image debian-base)")/image.env"
new_root=$(blkid --probe --offset "$ROOT_OFFSET" -s UUID -o value "$raw")
new_esp=$(blkid --probe --offset "$ESP_OFFSET" -s UUID -o value "$raw")
rm -f "$raw"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$img" --format qcow2 --timeout 240 \
    --marker "login:" --log "$log"; then
    t_pass "image with reset ids boots to a login prompt"
else
    t_fail "boot"
fi
serial=$(tr -d '\r' < "$log")
check_contains "kernel booted with the new root UUID" "$serial" "root=UUID=$new_root"
check_not_contains "no mount failure (ESP by its new volume ID)" "$serial" "Failed to mount"
check_not_contains "no device timeout" "$serial" "Timed out waiting for device"
t_done
