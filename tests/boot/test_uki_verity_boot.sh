#!/usr/bin/env bash
# Verity + UKI, booted (issue 10 §2-3): the verity layout of
# tests/lib/verity_layout.sh with os.uki mode create and systemd-boot-efi
# installed. The UKI is built after the verity seal, so its .cmdline holds
# the root hash; /boot is emptied (no grub.cfg holds it any more). systemd-boot
# boots the UKI under OVMF, / is /dev/mapper/root read-only, and
# /proc/cmdline is exactly the UKI's .cmdline.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
base=$(base_image debian-dracut)

raw=$T_TMP/v.raw
verity_layout_config "$T_TMP/v.yaml" "$raw" raw
sed -i -e 's/^    - dracut$/    - dracut\n    - systemd-boot-efi/' -e 's/^os:$/os:\n  uki:\n    mode: create/' "$T_TMP/v.yaml"
sed -i '1i previewFeatures:\n- uki' "$T_TMP/v.yaml"
"$IMGRECIPE" build "$T_TMP/v.yaml" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
check "uki step after the verity seal" awk '/\[verity\] start/ { v = NR } /\[uki\] start/ { u = NR } END { exit !(v && u && v < u) }' "$T_TMP/build.log"

start() { sfdisk -J "$raw" | jq -r ".partitiontable.partitions[$1].start * 512"; }
esp_off=$(start 0)
boot_off=$(start 1)
kver=$(mdir -b -i "$raw@@$esp_off" ::/EFI/Linux | sed -n 's|.*/vmlinuz-\(.*\)\.efi$|\1|p' | head -1)
check "a UKI on the ESP" test -n "$kver"
mcopy -n -i "$raw@@$esp_off" "::/EFI/Linux/vmlinuz-$kver.efi" "$T_TMP/uki.efi"
objcopy -O binary --only-section=.cmdline "$T_TMP/uki.efi" "$T_TMP/cmdline"
check_contains "the UKI's .cmdline has the root hash" "$(cat "$T_TMP/cmdline")" "roothash="
check_contains "the UKI's .cmdline has root=/dev/mapper/root" "$(cat "$T_TMP/cmdline")" "root=/dev/mapper/root"
check_eq "/boot is empty but for the ESP mount point (the root hash is only inside the UKI)" "efi lost+found" \
    "$(debugfs -R 'ls -p /' "$raw?offset=$boot_off" 2>/dev/null | awk -F/ '$6 != "" && $6 != "." && $6 != ".." { print $6 }' | sort | tr '\n' ' ' | sed 's/ $//')"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$raw" --timeout 300 --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "the verity UKI boots through systemd-boot and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_eq "/proc/cmdline is the UKI's .cmdline" "$(cat "$T_TMP/cmdline")" "$(fact cmdline)"
check_contains "/ is /dev/mapper/root, ext4" "$(fact "mount /")" "/dev/mapper/root ext4"
check_contains "/ is mounted read-only" "$(fact "mount /")" " ro"
check_eq "writing to / is refused" "refused" "$(fact root-write)"
t_done
