# shellcheck shell=bash
# uki_config FILE OUTPUT FORMAT -> writes the UKI config shared by
# tests/integration/test_uki.sh and tests/boot/test_uki_boot.sh: the
# debian-base image with systemd-boot-efi installed from the image's
# repositories, one extra kernel argument, os.uki mode create, and a check
# unit printing /proc/cmdline and the booted loader to the serial console.
uki_config() {
    local file=$1 output=$2 format=${3:-raw}
    cat > "$file" <<YAML
previewFeatures:
- uki
os:
  kernelCommandLine:
    extraCommandLine:
    - imgrecipe.uki=1
  packages:
    install:
    - systemd-boot-efi
  uki:
    mode: create
  additionalFiles:
  - destination: /etc/systemd/system/imgrecipe-check.service
    content: |
      [Unit]
      Description=imgrecipe UKI check
      After=local-fs.target
      [Service]
      Type=oneshot
      ExecStart=/usr/local/bin/imgrecipe-check
      [Install]
      WantedBy=multi-user.target
  - destination: /usr/local/bin/imgrecipe-check
    permissions: "0755"
    content: |
      #!/bin/sh
      exec >/dev/ttyS0 2>&1
      echo "IRCHECK cmdline=\$(cat /proc/cmdline)"
      echo "IRCHECK loader=\$(cat /sys/firmware/efi/efivars/LoaderInfo-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f 2>/dev/null | tr -d '\\\\000' | tr -cd '[:print:]')"
      echo "IRCHECK stub=\$(cat /sys/firmware/efi/efivars/StubInfo-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f 2>/dev/null | tr -d '\\\\000' | tr -cd '[:print:]')"
      echo IRCHECK-DONE
  services:
    enable:
    - imgrecipe-check.service
output:
  image:
    path: $output
    format: $format
YAML
}
