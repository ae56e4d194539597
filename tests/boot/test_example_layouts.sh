#!/usr/bin/env bash
# The two layout examples (examples/mbr-bios, examples/gpt-xfs-btrfs) built
# from the Debian base image boot: MBR + legacy BIOS under SeaBIOS (/boot
# ext4, / xfs, swap active) and GPT + UEFI (/ ext4, /var xfs, /home btrfs
# subvolume). Each image gets a check unit that prints its mounts and swap
# to the serial console (added by a wrapper recipe around the example, so
# the examples stay as a user would run them). mbr-bios needs grub-pc-bin
# and grub2-common: fetched with the host's `apt-get download` (the host is
# Debian 12 like the image).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
base=$(base_image debian-base)

# The base image plus the check unit: the examples copy it over.
cat > "$T_TMP/check.yaml" <<YAML
os:
  additionalFiles:
  - destination: /etc/systemd/system/imgrecipe-check.service
    content: |
      [Unit]
      Description=imgrecipe layout check
      After=local-fs.target swap.target
      [Service]
      Type=oneshot
      ExecStart=/bin/sh -c 'exec >/dev/ttyS0 2>&1; for m in / /boot /var /home; do echo "IRCHECK mount \$\$m=\$\$(findmnt -n -o SOURCE,FSTYPE,OPTIONS \$\$m | tr -s " ")"; done; echo "IRCHECK swap=\$\$(swapon --noheadings --show=NAME,TYPE | tr -s " ")"; echo "IRCHECK efi=\$\$(test -d /sys/firmware/efi && echo yes || echo no)"; echo IRCHECK-DONE'
      [Install]
      WantedBy=multi-user.target
  services:
    enable: [imgrecipe-check.service]
output: {image: {path: $T_TMP/base-check.raw, format: raw}}
YAML
"$IMGRECIPE" build "$T_TMP/check.yaml" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/check.log" \
    || { tail -20 "$T_TMP/check.log"; t_fail "check unit build"; t_done; }

debs=$T_TMP/debs
mkdir -p "$debs"
(cd "$debs" && apt-get download grub-pc-bin grub2-common) > "$T_TMP/apt.log" 2>&1 \
    || { tail -5 "$T_TMP/apt.log"; t_fail "apt-get download grub-pc-bin grub2-common"; t_done; }

fact() { tr -d '\r' < "$1" | grep -a "^IRCHECK $2=" | head -1 | cut -d= -f2-; }

# --- MBR + legacy BIOS
if "$IMGRECIPE" run "$REPO_DIR/examples/mbr-bios/recipe.lua" --build-dir "$T_TMP/build" \
    --param input="$T_TMP/base-check.raw" --param output="$T_TMP/bios.qcow2" --param deb_sources="$debs" \
    2> "$T_TMP/bios.log"; then
    log=$T_TMP/bios-serial.log
    if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/bios.qcow2" --format qcow2 --firmware bios --timeout 240 \
        --marker "IRCHECK-DONE" --log "$log"; then
        t_pass "mbr-bios boots under SeaBIOS"
    else
        t_fail "mbr-bios boot"
    fi
    check_contains "mbr-bios: / on xfs (vda3)" "$(fact "$log" "mount /")" "/dev/vda3 xfs"
    check_contains "mbr-bios: /boot on ext4 (vda1)" "$(fact "$log" "mount /boot")" "/dev/vda1 ext4"
    check_contains "mbr-bios: swap active (vda2)" "$(fact "$log" swap)" "/dev/vda2 partition"
    check_eq "mbr-bios: no UEFI" "no" "$(fact "$log" efi)"
else
    tail -30 "$T_TMP/bios.log"
    t_fail "mbr-bios build"
fi
rm -f "$T_TMP/bios.qcow2"

# --- GPT + UEFI, xfs and btrfs
if "$IMGRECIPE" run "$REPO_DIR/examples/gpt-xfs-btrfs/recipe.lua" --build-dir "$T_TMP/build" \
    --param input="$T_TMP/base-check.raw" --param output="$T_TMP/gpt.qcow2" 2> "$T_TMP/gpt.log"; then
    log=$T_TMP/gpt-serial.log
    if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/gpt.qcow2" --format qcow2 --timeout 240 \
        --marker "IRCHECK-DONE" --log "$log"; then
        t_pass "gpt-xfs-btrfs boots under UEFI"
    else
        t_fail "gpt-xfs-btrfs boot"
    fi
    check_contains "gpt-xfs-btrfs: / on ext4 (vda2)" "$(fact "$log" "mount /")" "/dev/vda2 ext4"
    check_contains "gpt-xfs-btrfs: /var on xfs (vda3)" "$(fact "$log" "mount /var")" "/dev/vda3 xfs"
    check_contains "gpt-xfs-btrfs: /home on btrfs @home (vda4)" "$(fact "$log" "mount /home")" "/dev/vda4[/@home] btrfs"
    check_contains "gpt-xfs-btrfs: /home mounted with compress=zstd" "$(fact "$log" "mount /home")" "compress=zstd"
    check_eq "gpt-xfs-btrfs: UEFI" "yes" "$(fact "$log" efi)"
else
    tail -30 "$T_TMP/gpt.log"
    t_fail "gpt-xfs-btrfs build"
fi
t_done
