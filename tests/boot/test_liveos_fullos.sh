#!/usr/bin/env bash
# Issue 9: `initramfsType: full-os`. The debian-base image (no dracut, no
# live packages) with a unit printing a marker, written as a full-os ISO
# (the whole OS as the zstd cpio initramfs) and as a full-os pxe-dir whose
# image also has shim (shim-unsigned), so the tree's bootx64.efi is shim, as
# in ALIC's trees. The ISO boots as a CD under OVMF, the PXE tree through
# QEMU's user-mode network and TFTP server (OVMF loads shim, shim loads
# grubx64.efi over TFTP, GRUB the kernel and initramfs); each time the unit
# shows that / is the kernel's in-memory root (rootfs, no root= device) and
# that the extra argument is there. The ISO that boots is the first one
# re-customized through ISO input (its root rebuilt from the full-os
# initramfs, a file, a hostname and an argument added): the unit also shows
# the second generation's changes beside the first's (one boot, not two).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

cfg=$T_TMP/cfg
mkdir -p "$cfg"
write_cfg() { # NAME SECTION PACKAGES
    cat > "$cfg/$1.yaml" <<YAML
os:
  packages:
    install: [$3]
  additionalFiles:
    - content: |
        #!/bin/sh
        root=\$(findmnt -n -o FSTYPE,SOURCE /)
        arg=no
        grep -qw imgrecipe.fullos=1 /proc/cmdline && arg=yes
        gen2=\$(cat /etc/fullos-gen2 2>/dev/null || echo none)
        arg2=no
        grep -qw imgrecipe.gen2=1 /proc/cmdline && arg2=yes
        echo "FULLOSMARK root=[\$root] arg=\$arg gen2=\$gen2 arg2=\$arg2 host=\$(hostname)" > /dev/ttyS0
      destination: /usr/local/bin/fullos-marker
      permissions: "0755"
    - content: |
        [Unit]
        Description=imgrecipe full-os boot test marker
        After=multi-user.target
        [Service]
        Type=oneshot
        ExecStart=/usr/local/bin/fullos-marker
        [Install]
        WantedBy=multi-user.target
      destination: /etc/systemd/system/fullos-marker.service
  services:
    enable: [fullos-marker.service]
$2:
  initramfsType: full-os
  kernelCommandLine:
    extraCommandLine:
      - console=ttyS0,115200n8
      - imgrecipe.fullos=1
YAML
}
write_cfg iso iso ""
write_cfg pxe pxe shim-unsigned

iso=$T_TMP/full.iso
"$IMGRECIPE" build --config-file "$cfg/iso.yaml" --image-file "$IMG_PATH" --output-image-file "$iso" \
    --output-image-format iso --build-dir "$T_TMP/b" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; exit 1; }
t_pass "full-os ISO built ($(du -m "$iso" | cut -f1) MiB)"

# The second generation: ISO input with OS changes (initramfsType: the input's).
cat > "$cfg/gen2.yaml" <<'YAML'
os:
  hostname: fullos-two
  additionalFiles:
    - content: "second"
      destination: /etc/fullos-gen2
iso:
  kernelCommandLine:
    extraCommandLine: [imgrecipe.gen2=1]
YAML
gen2=$T_TMP/gen2.iso
"$IMGRECIPE" build --config-file "$cfg/gen2.yaml" --image-file "$iso" --output-image-file "$gen2" \
    --output-image-format iso --build-dir "$T_TMP/b" 2> "$T_TMP/gen2-build.log" \
    || { tail -30 "$T_TMP/gen2-build.log"; t_fail "gen2 build"; t_done; exit 1; }
t_pass "the full-os ISO re-customized through ISO input ($(du -m "$gen2" | cut -f1) MiB)"

# The kernel unpacks the whole OS into memory: give the guest room for the
# compressed and the unpacked copy.
marker="FULLOSMARK root=[rootfs rootfs] arg=yes"
check "uefi cd: the re-customized full-os system boots, / is the in-memory rootfs, both generations there" \
    "$TESTS_DIR/lib/boot-check.sh" --image "$gen2" --media cd --firmware uefi --memory 3072 \
    --marker "$marker gen2=second arg2=yes host=fullos-two" --timeout 300 --log "$T_TMP/uefi-cd.log"
grep -a 'FULLOSMARK' "$T_TMP/uefi-cd.log" | head -1 || true

pxe=$T_TMP/pxe
"$IMGRECIPE" build --config-file "$cfg/pxe.yaml" --image-file "$IMG_PATH" --output-image-file "$pxe" \
    --output-image-format pxe-dir --build-dir "$T_TMP/b" 2> "$T_TMP/pxe-build.log" \
    || { tail -30 "$T_TMP/pxe-build.log"; t_fail "pxe build"; t_done; exit 1; }
t_pass "full-os pxe-dir built"
check "the tree's bootx64.efi is the image's shim" bash -c "strings '$pxe/bootx64.efi' | grep -q 'UEFI SHIM'"
check "uefi pxe: shim, GRUB and the full-os system boot over TFTP; / is the in-memory rootfs" \
    "$TESTS_DIR/lib/boot-check.sh" --pxe "$pxe" --memory 3072 \
    --marker "$marker" --timeout 420 --log "$T_TMP/pxe.log"
grep -a 'FULLOSMARK' "$T_TMP/pxe.log" | head -1 || true
t_done
