#!/usr/bin/env bash
# ALIC's nested btrfs subvolume layout (its testdata partitions-btrfs-
# subvolumes-nested.yaml, plus a serial console): / on the subvolume `root`,
# /var and /var/log on nested subvolumes, /home on its own, quotas. GRUB's
# ESP image must look for grub.cfg inside the subvolume (/root/boot/grub),
# grub.cfg must pass rootflags=subvol=root. It boots, and a check unit
# prints what is mounted where.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
cat > "$T_TMP/config.yaml" <<YAML
previewFeatures: [btrfs]
storage:
  bootType: efi
  disks:
  - partitionTableType: gpt
    partitions:
    - {id: esp, type: esp, size: 32M}
    - {id: btrfspart, size: 3G}
  filesystems:
  - deviceId: esp
    type: fat32
    mountPoint: {path: /boot/efi, options: umask=0077}
  - deviceId: btrfspart
    type: btrfs
    btrfs:
      subvolumes:
      - path: root
        mountPoint: {path: /}
      - path: home
        mountPoint: {path: /home}
        quota: {referencedLimit: 500M}
      - path: root/var
        mountPoint: {path: /var}
      - path: root/var/log
        mountPoint: {path: /var/log, options: noatime}
        quota: {referencedLimit: 100M, exclusiveLimit: 50M}
      - path: snapshots
os:
  bootloader:
    resetType: hard-reset
  kernelCommandLine:
    extraCommandLine: [console=ttyS0]
  additionalFiles:
  - destination: /usr/local/bin/ircheck
    permissions: "0755"
    content: |
      #!/bin/sh
      for m in / /var /var/log /home; do
        echo "IRCHECK mount \$m=\$(findmnt -no FSTYPE "\$m") \$(findmnt -no FSROOT "\$m")"
      done
      echo "IRCHECK cmdline=\$(cat /proc/cmdline)"
      echo IRCHECK-DONE
  - destination: /etc/systemd/system/ircheck.service
    content: |
      [Unit]
      After=multi-user.target
      [Service]
      Type=oneshot
      StandardOutput=journal+console
      ExecStart=/usr/local/bin/ircheck
      [Install]
      WantedBy=multi-user.target
scripts:
  postCustomization:
  - content: systemctl enable ircheck.service
YAML
"$IMGRECIPE" build "$T_TMP/config.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" \
    --output-image-file "$T_TMP/out.qcow2" --output-image-format qcow2 > "$T_TMP/build.log" 2>&1 \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
t_pass "build"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/out.qcow2" --format qcow2 --timeout 300 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "root on a btrfs subvolume boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -ao "IRCHECK $1=.*" | head -1 | cut -d= -f2-; }
check_eq "/ is the subvolume root" "btrfs /root" "$(fact "mount /")"
check_eq "/var is the nested subvolume root/var" "btrfs /root/var" "$(fact "mount /var")"
check_eq "/var/log is root/var/log" "btrfs /root/var/log" "$(fact "mount /var/log")"
check_eq "/home is the subvolume home" "btrfs /home" "$(fact "mount /home")"
check_contains "rootflags=subvol=root on the kernel line" "$(fact cmdline)" "rootflags=subvol=root"
t_done
