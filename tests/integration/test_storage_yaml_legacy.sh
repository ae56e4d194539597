#!/usr/bin/env bash
# YAML storage with bootType legacy: a GPT disk with a bios-grub partition at
# 1 MiB (no filesystem) and / on ext4 by PARTLABEL, from the debian-base
# image; os.packages installs grub-pc-bin and grub2-common into the NEW
# layout from a local .deb directory (fetched with the host's `apt-get
# download`; the host is Debian 12 like the image), then the bootloader step
# runs grub-install for i386-pc on the new disk. Read back offline. Also: the
# same config without those packages fails at the bootloader step naming
# what the image lacks, leaking nothing.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

debs=$T_TMP/debs
mkdir -p "$debs"
(cd "$debs" && apt-get download grub-pc-bin grub2-common) > "$T_TMP/apt.log" 2>&1 \
    || { tail -5 "$T_TMP/apt.log"; t_fail "apt-get download grub-pc-bin grub2-common"; t_done; }

write_config() {
    cat > "$1" <<YAML
storage:
  bootType: legacy
  disks:
  - partitionTableType: gpt
    maxSize: 2G
    partitions:
    - {id: bios, type: bios-grub, start: 1M, size: 1M}
    - {id: root, type: root, size: grow, label: rootfs}
  filesystems:
  - {deviceId: bios}
  - deviceId: root
    type: ext4
    mountPoint: {path: /, idType: part-label}
os:
  bootloader:
    resetType: hard-reset
  kernelCommandLine:
    extraCommandLine:
    - console=ttyS0,115200n8
$2
output: {image: {path: $3, format: qcow2}}
YAML
}
write_config "$T_TMP/legacy.yaml" "  packages:
    install: [grub-pc-bin, grub2-common]" "$T_TMP/legacy.qcow2"
# Run from an empty directory: nothing may be written outside the build
# directory (the packages step once staged its sources in ./nil/).
mkdir -p "$T_TMP/cwd"
set +e
(cd "$T_TMP/cwd" && "$IMGRECIPE" build "$T_TMP/legacy.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" \
    --deb-source "$debs" --disable-base-image-deb-repos) 2> "$T_TMP/build.log"
rc=$?
set -e
check_eq "nothing written in the working directory" "" "$(ls -A "$T_TMP/cwd")"
check_eq "build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/build.log"
check_contains "grub-install ran for i386-pc" "$(cat "$T_TMP/build.log")" "Installing for i386-pc platform."
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"

raw=$T_TMP/legacy.raw
to_raw "$T_TMP/legacy.qcow2" "$raw"
table=$(sfdisk -J "$raw")
check_eq "bios-grub partition at 1 MiB, 1 MiB" "21686148-6449-6E6F-744E-656564454649 2048 2048" \
    "$(jq -r '.partitiontable.partitions[0] | "\(.type) \(.start) \(.size)"' <<< "$table")"
check_contains "GRUB boot code in the MBR" "$(dd if="$raw" bs=512 count=1 status=none | strings)" "GRUB"
check "GRUB core image written into the bios-grub partition" test \
    "$(dd if="$raw" bs=512 skip=2048 count=2048 status=none | tr -d '\0' | wc -c)" -gt 10000
root_off=$(( $(jq '.partitiontable.partitions[1].start' <<< "$table") * 512 ))
check_eq "fstab: / by PARTLABEL" "PARTLABEL=rootfs / ext4 defaults 0 1" \
    "$(fs_cat "$raw" "$root_off" /etc/fstab | grep -v '^#')"
grubcfg=$(fs_cat "$raw" "$root_off" /boot/grub/grub.cfg)
check_contains "grub.cfg: root=PARTLABEL" "$grubcfg" "root=PARTLABEL=rootfs"
check_not_contains "grub.cfg: no other root=" "$(grep -o 'root=[^ ]*' <<< "$grubcfg" | sort -u)" "root=UUID"
check "i386-pc modules in /boot/grub" test -n "$(debugfs -R 'ls -p /boot/grub/i386-pc' "$raw?offset=$root_off" 2>/dev/null | grep normal.mod)"
rm -f "$raw"

# Without grub-install in the image: a config error at the bootloader step.
write_config "$T_TMP/nogrub.yaml" "" "$T_TMP/nogrub.qcow2"
set +e
msg=$("$IMGRECIPE" build "$T_TMP/nogrub.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b2" 2>&1)
rc=$?
set -e
check "no grub-install: the build fails" test "$rc" -ne 0
check_contains "the error names the step and what is missing" "$msg" "step 'bootloader': boot type legacy: the image has no grub-install with i386-pc modules"
check "no output written" test ! -e "$T_TMP/nogrub.qcow2"
check_eq "no loop device left (failure)" 0 "$(all_loops)"
check_eq "no mount left (failure)" 0 "$(mounts_under "$T_TMP")"
t_done
