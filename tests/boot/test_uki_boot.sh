#!/usr/bin/env bash
# os.uki, booted (issue 10 §3 "UKI"): the debian-base image with
# systemd-boot-efi installed by the config and mode create boots under OVMF
# through systemd-boot (the ESP's fallback loader; /boot holds no kernel and
# no GRUB any more) into the UKI, and the kernel's /proc/cmdline is exactly
# the .cmdline section of the UKI on the ESP.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/uki_config.sh"
image_env debian-base

raw=$T_TMP/uki.raw
uki_config "$T_TMP/u.yaml" "$raw" raw
"$IMGRECIPE" build "$T_TMP/u.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
mcopy -n -i "$raw@@$ESP_OFFSET" "::/EFI/Linux/vmlinuz-$KERNEL_VERSION.efi" "$T_TMP/uki.efi"
objcopy -O binary --only-section=.cmdline "$T_TMP/uki.efi" "$T_TMP/cmdline"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$raw" --timeout 300 --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "the UKI boots through systemd-boot and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_eq "/proc/cmdline is the UKI's .cmdline" "$(cat "$T_TMP/cmdline")" "$(fact cmdline)"
check_contains "booted by systemd-boot" "$(fact loader)" "systemd-boot"
check_contains "through systemd-stub" "$(fact stub)" "systemd-stub"
t_done
