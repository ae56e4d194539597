# shellcheck shell=bash
# ab_layout_config FILE OUTPUT [EXTRA_OS_YAML] -> writes the A/B layout config
# shared by tests/integration/test_storage_yaml.sh and tests/boot/test_ab_layout.sh:
# a 4 GiB GPT disk with an ESP (fat32, /boot/efi by UUID, umask=0077), root-a
# (ext4, / by PARTUUID), root-b (the same size, left unformatted: the other
# slot) and a state partition (xfs, /var/lib/state by PARTLABEL, noatime)
# taking the rest; a check unit printing the mounts to the serial console;
# a file written at /var/lib/state/seeded (it must land on the state fs).
ab_layout_config() {
    local file=$1 output=$2
    cat > "$file" <<YAML
storage:
  bootType: efi
  disks:
  - partitionTableType: gpt
    maxSize: 4G
    partitions:
    - {id: esp, type: esp, start: 1M, size: 64M, label: esp}
    - {id: root-a, type: root, size: 1536M, label: root-a}
    - {id: root-b, type: root, size: 1536M, label: root-b}
    - {id: state, type: linux-generic, size: grow, label: state}
  filesystems:
  - deviceId: esp
    type: fat32
    mountPoint: {path: /boot/efi, idType: uuid, options: umask=0077}
  - deviceId: root-a
    type: ext4
    mountPoint: /
  - deviceId: state
    type: xfs
    mountPoint: {path: /var/lib/state, idType: part-label, options: noatime}
os:
  bootloader:
    resetType: hard-reset
  kernelCommandLine:
    extraCommandLine:
    - console=ttyS0,115200n8
  additionalFiles:
  - destination: /etc/systemd/system/imgrecipe-check.service
    content: |
      [Unit]
      Description=imgrecipe A/B layout check
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
      for m in / /var/lib/state /boot/efi; do
        echo "IRCHECK mount \$m=\$(findmnt -n -o SOURCE,FSTYPE,OPTIONS \$m | tr -s ' ')"
      done
      echo "IRCHECK cmdline=\$(cat /proc/cmdline)"
      echo "IRCHECK state-file=\$(cat /var/lib/state/seeded 2>/dev/null || echo missing)"
      echo IRCHECK-DONE
  - destination: /var/lib/state/seeded
    content: "seeded at build"
  services:
    enable: [imgrecipe-check.service]
output: {image: {path: $output, format: qcow2}}
YAML
}
