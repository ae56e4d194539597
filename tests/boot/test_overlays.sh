#!/usr/bin/env bash
# os.overlays (ALIC's overlays-config, the /media overlay without the initrd
# one, which needs dracut): /media is an overlayfs of /media and /home with
# its upper directory under /overlays. Offline: the fstab line is ALIC's, the
# directories exist, the overlay driver is in the initramfs configuration
# and in the regenerated initramfs. Booted: /media is mounted as overlay, a
# file of /home shows through it, and a file written there lands in the
# upper directory.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
cat > "$T_TMP/config.yaml" <<YAML
os:
  kernelCommandLine:
    extraCommandLine: [console=ttyS0]
  additionalFiles:
  - destination: /home/from-home.txt
    content: lower layer
  - destination: /usr/local/bin/ircheck
    permissions: "0755"
    content: |
      #!/bin/sh
      echo "IRCHECK media=\$(findmnt -no FSTYPE /media)"
      echo "IRCHECK through=\$(cat /media/from-home.txt)"
      echo written > /media/new.txt
      echo "IRCHECK upper=\$(cat /overlays/media/upper/new.txt)"
      echo "IRCHECK home-untouched=\$(test -e /home/new.txt && echo no || echo yes)"
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
  overlays:
  - mountPoint: /media
    lowerDirs: [/media, /home]
    upperDir: /overlays/media/upper
    workDir: /overlays/media/work
scripts:
  postCustomization:
  - content: systemctl enable ircheck.service
YAML
"$IMGRECIPE" build "$T_TMP/config.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" \
    --output-image-file "$T_TMP/out.raw" --output-image-format raw > "$T_TMP/build.log" 2>&1 \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
t_pass "build"
check_contains "initramfs regenerated after the overlays" "$(cat "$T_TMP/build.log")" "[regenerate initramfs]"
check_eq "fstab line as ALIC writes it" \
    "overlay /media overlay lowerdir=/media:/home,upperdir=/overlays/media/upper,workdir=/overlays/media/work 0 0" \
    "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" /etc/fstab | tail -1)"
check_eq "dracut overlay driver" 'add_drivers+=" overlay "' \
    "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" /etc/dracut.conf.d/overlay.conf)"
check_contains "initramfs-tools module list" "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" /etc/initramfs-tools/modules)" \
    "overlay"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/out.raw" --format raw --timeout 240 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "image with an overlay boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -ao "IRCHECK $1=.*" | head -1 | cut -d= -f2-; }
check_eq "/media is an overlay" "overlay" "$(fact media)"
check_eq "a lower layer's file shows through" "lower layer" "$(fact through)"
check_eq "a write lands in the upper directory" "written" "$(fact upper)"
check_eq "the lower layer is untouched" "yes" "$(fact home-untouched)"
t_done
