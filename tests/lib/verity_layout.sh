# shellcheck shell=bash
# verity_layout_config FILE OUTPUT FORMAT -> writes the verity layout config
# shared by tests/integration/test_verity_yaml.sh and tests/boot/test_verity_layout.sh:
# a 4 GiB GPT disk with an ESP (/boot/efi), a separate writable /boot (ext4),
# the root (ext4, read-only, verity 'root' with its hash partition 'roothash',
# corruption option panic) and a writable /var taking the rest; dracut installed
# from the image's repositories; a check unit printing the mounts and the
# verity status to the serial console.
verity_layout_config() {
    local file=$1 output=$2 format=${3:-raw}
    cat > "$file" <<YAML
storage:
  bootType: efi
  disks:
  - partitionTableType: gpt
    maxSize: 4G
    partitions:
    - {id: esp, type: esp, start: 1M, size: 64M, label: esp}
    - {id: boot, type: xbootldr, size: 256M, label: boot}
    - {id: root, type: root, size: 2G, label: root}
    - {id: roothash, type: root-verity, size: 64M, label: roothash}
    - {id: var, type: var, size: grow, label: var}
  verity:
  - id: verityroot
    name: root
    dataDeviceId: root
    hashDeviceId: roothash
    hashDeviceMountIdType: part-label
    corruptionOption: panic
  filesystems:
  - deviceId: esp
    type: fat32
    mountPoint: {path: /boot/efi, options: umask=0077}
  - deviceId: boot
    type: ext4
    mountPoint: /boot
  - deviceId: verityroot
    type: ext4
    mountPoint: {path: /, options: ro}
  - deviceId: var
    type: ext4
    mountPoint: /var
os:
  bootloader:
    resetType: hard-reset
  kernelCommandLine:
    extraCommandLine:
    - console=ttyS0,115200n8
  packages:
    install:
    - dracut
  additionalFiles:
  - destination: /etc/systemd/system/imgrecipe-check.service
    content: |
      [Unit]
      Description=imgrecipe verity layout check
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
      for m in / /var /boot; do
        echo "IRCHECK mount \$m=\$(findmnt -n -o SOURCE,FSTYPE,OPTIONS \$m | tr -s ' ')"
      done
      echo "IRCHECK verity=\$(veritysetup status root 2>&1 | awk '/status:|verified/ {print}' | tr -s ' ' | tr '\n' ';')"
      echo "IRCHECK root-write=\$(touch /imgrecipe-probe 2>/dev/null && echo writable || echo refused)"
      echo "IRCHECK cmdline=\$(cat /proc/cmdline)"
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

# verity_usr_layout_config FILE OUTPUT FORMAT -> a /usr verity layout (ALIC's
# usr configs: grub.cfg stays on the writable root): ESP, root (ext4, rw,
# holds /boot), /usr (ext4, ro, verity 'usr' with its hash partition
# 'usrhash', corruption panic, data by part-label, hash by uuid), dracut and
# cryptsetup-bin installed; the same check unit as verity_layout_config, for /usr.
verity_usr_layout_config() {
    local file=$1 output=$2 format=${3:-raw}
    verity_layout_config "$file" "$output" "$format"
    python3 - "$file" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("""    - {id: boot, type: xbootldr, size: 256M, label: boot}
    - {id: root, type: root, size: 2G, label: root}
    - {id: roothash, type: root-verity, size: 64M, label: roothash}
    - {id: var, type: var, size: grow, label: var}""", """    - {id: root, type: root, size: 1536M, label: root}
    - {id: usr, type: usr, size: 2G, label: usr}
    - {id: usrhash, type: usr-verity, size: 64M, label: usrhash}""")
s = s.replace("""  - id: verityroot
    name: root
    dataDeviceId: root
    hashDeviceId: roothash
    hashDeviceMountIdType: part-label""", """  - id: verityusr
    name: usr
    dataDeviceId: usr
    hashDeviceId: usrhash
    dataDeviceMountIdType: part-label
    hashDeviceMountIdType: uuid""")
s = s.replace("""  - deviceId: boot
    type: ext4
    mountPoint: /boot
  - deviceId: verityroot
    type: ext4
    mountPoint: {path: /, options: ro}
  - deviceId: var
    type: ext4
    mountPoint: /var""", """  - deviceId: root
    type: ext4
    mountPoint: /
  - deviceId: verityusr
    type: ext4
    mountPoint: {path: /usr, options: ro}""")
s = s.replace("for m in / /var /boot; do", "for m in / /usr; do")
s = s.replace("veritysetup status root", "veritysetup status usr")
s = s.replace("touch /imgrecipe-probe", "touch /usr/imgrecipe-probe")
# veritysetup in the booted system, for `veritysetup status usr`.
s = s.replace("    install:\n    - dracut\n", "    install:\n    - dracut\n    - cryptsetup-bin\n")
open(p, "w").write(s)
PY
}
