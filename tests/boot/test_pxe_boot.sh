#!/usr/bin/env bash
# Issue 9 §3.4: a pxe-dir tree (bootstrap) built from YAML from the
# debian-dracut image boots over the network: OVMF's PXE client loads
# bootx64.efi from QEMU's user-mode TFTP server (the tree), GRUB reads
# boot/grub2/grub.cfg and the kernel and initramfs over TFTP, dracut brings
# the network up (ip=dhcp) and livenet downloads image.iso from an HTTP
# server on the host's loopback (10.0.2.2 from the guest). A unit of the live
# system prints a marker: / is the overlay on the ISO's squashfs, the extra
# kernel argument is there and root= is the ISO's URL.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-dracut

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cfg=$T_TMP/cfg
mkdir -p "$cfg"
cat > "$cfg/pxe.yaml" <<YAML
os:
  packages:
    install: [dracut, dracut-live, dracut-network, curl, isc-dhcp-client, iputils-arping, procps, iproute2]
  additionalFiles:
    - content: |
        #!/bin/sh
        root=\$(findmnt -n -o FSTYPE,SOURCE /)
        arg=no
        grep -qw imgrecipe.pxe=1 /proc/cmdline && arg=yes
        url=\$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^root=live://p')
        echo "PXEMARK root=[\$root] arg=\$arg url=[\$url]" > /dev/ttyS0
      destination: /usr/local/bin/pxe-marker
      permissions: "0755"
    - content: |
        [Unit]
        Description=imgrecipe PXE boot test marker
        After=multi-user.target
        [Service]
        Type=oneshot
        ExecStart=/usr/local/bin/pxe-marker
        [Install]
        WantedBy=multi-user.target
      destination: /etc/systemd/system/pxe-marker.service
  services:
    enable: [pxe-marker.service]
pxe:
  bootstrapBaseUrl: http://10.0.2.2:$port
  kernelCommandLine:
    extraCommandLine:
      - console=ttyS0,115200n8
      - imgrecipe.pxe=1
output:
  image:
    format: pxe-dir
YAML

tree=$T_TMP/pxe
"$IMGRECIPE" build --config-file "$cfg/pxe.yaml" --image-file "$IMG_PATH" --output-image-file "$tree" \
    --build-dir "$T_TMP/b" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; exit 1; }
t_pass "PXE tree built ($(du -sm "$tree" | cut -f1) MiB)"

# The ISO over HTTP on the loopback only; QEMU's user network forwards the
# guest's 10.0.2.2 to the host's 127.0.0.1.
python3 -m http.server --bind 127.0.0.1 --directory "$tree" "$port" > "$T_TMP/http.log" 2>&1 &
http_pid=$!
stop_http() { local rc=$?; kill "$http_pid" 2>/dev/null || true; wait "$http_pid" 2>/dev/null || true; (exit "$rc"); t_cleanup; }
trap stop_http EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

marker="PXEMARK root=[overlay LiveOS_rootfs] arg=yes url=[http://10.0.2.2:$port/image.iso]"
check "UEFI network boot: the live system comes up from the downloaded ISO" \
    "$TESTS_DIR/lib/boot-check.sh" --pxe "$tree" --memory 3072 --marker "$marker" --timeout 600 \
    --log "$T_TMP/pxe-boot.log"
grep -a 'PXEMARK' "$T_TMP/pxe-boot.log" | head -1 || true
check_contains "the ISO was downloaded over HTTP" "$(cat "$T_TMP/http.log")" "GET /image.iso"
t_done
