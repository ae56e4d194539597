#!/usr/bin/env bash
# storage.resetPartitionsUuidsType: reset-all on a legacy-BIOS image, booted
# under SeaBIOS. Stage 1 builds the legacy layout from the debian-base image
# (YAML storage, bootType legacy: GPT, bios-grub partition at 1 MiB, / on
# ext4 by UUID, Debian's grub-pc-bin and grub2-common installed from a local
# .deb directory fetched with the host's `apt-get download`, a check unit on
# the serial console). Its GRUB core image finds /boot by the filesystem
# UUID, so stage 2 (reset-all on that image) must reinstall it: every id is
# checked new offline, the input is untouched, nothing is left behind, and
# the image boots with / on the new root and root=UUID=<new>.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

debs=$T_TMP/debs
mkdir -p "$debs"
(cd "$debs" && apt-get download grub-pc-bin grub2-common) > "$T_TMP/apt.log" 2>&1 \
    || { tail -5 "$T_TMP/apt.log"; t_fail "apt-get download grub-pc-bin grub2-common"; t_done; }

legacy=$T_TMP/legacy.raw
cat > "$T_TMP/legacy.yaml" <<YAML
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
    mountPoint: {path: /, idType: uuid}
os:
  bootloader:
    resetType: hard-reset
  kernelCommandLine:
    extraCommandLine:
    - console=ttyS0,115200n8
  packages:
    install: [grub-pc-bin, grub2-common]
  additionalFiles:
  - destination: /etc/systemd/system/imgrecipe-check.service
    content: |
      [Unit]
      Description=imgrecipe legacy reset check
      After=local-fs.target
      [Service]
      Type=oneshot
      ExecStart=/bin/sh -c 'exec >/dev/ttyS0 2>&1; echo "IRCHECK mount /=\$(findmnt -n -o SOURCE,FSTYPE / | tr -s " ")"; echo "IRCHECK efi=\$(test -d /sys/firmware/efi && echo yes || echo no)"; echo "IRCHECK cmdline=\$(cat /proc/cmdline)"; echo IRCHECK-DONE'
      [Install]
      WantedBy=multi-user.target
  services:
    enable: [imgrecipe-check.service]
output: {image: {path: $legacy, format: raw}}
YAML
"$IMGRECIPE" build "$T_TMP/legacy.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b1" \
    --deb-source "$debs" --disable-base-image-deb-repos 2> "$T_TMP/legacy.log" \
    || { tail -30 "$T_TMP/legacy.log"; t_fail "stage 1: legacy layout build"; t_done; }
table=$(sfdisk -J "$legacy")
check_eq "stage 1: bios-grub partition at 1 MiB" "21686148-6449-6E6F-744E-656564454649 2048" \
    "$(jq -r '.partitiontable.partitions[0] | "\(.type) \(.start)"' <<< "$table")"
root_off=$(( $(jq '.partitiontable.partitions[1].start' <<< "$table") * 512 ))
old_root=$(blkid --probe --offset "$root_off" -s UUID -o value "$legacy")
check_contains "stage 1: GRUB's core image finds /boot by its UUID" \
    "$(fs_cat "$legacy" "$root_off" /boot/grub/i386-pc/load.cfg)" "search.fs_uuid $old_root"

out=$T_TMP/reset.qcow2
cat > "$T_TMP/reset.yaml" <<YAML
storage:
  resetPartitionsUuidsType: reset-all
os:
  bootloader:
    resetType: hard-reset
  kernelCommandLine:
    extraCommandLine:
    - console=ttyS0,115200n8
output: {image: {path: $out, format: qcow2}}
YAML
sum_before=$(sha256sum < "$legacy")
set +e
"$IMGRECIPE" build "$T_TMP/reset.yaml" --image-file "$legacy" --build-dir "$T_TMP/b2" 2> "$T_TMP/reset.log"
rc=$?
set -e
check_eq "stage 2: reset-all build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/reset.log"; t_done; }
check_eq "input untouched" "$sum_before" "$(sha256sum < "$legacy")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"

raw=$T_TMP/reset.raw
to_raw "$out" "$raw"
new_table=$(sfdisk -J "$raw")
for i in 0 1; do
    o=$(jq -r ".partitiontable.partitions[$i].uuid" <<< "$table")
    n=$(jq -r ".partitiontable.partitions[$i].uuid" <<< "$new_table")
    check "partition $((i + 1)): new PARTUUID ($o -> $n)" test -n "$n" -a "$o" != "$n"
done
check_eq "disk layout otherwise unchanged (starts, sizes, types)" \
    "$(jq -c '[.partitiontable.partitions[] | [.start, .size, .type]]' <<< "$table")" \
    "$(jq -c '[.partitiontable.partitions[] | [.start, .size, .type]]' <<< "$new_table")"
new_root=$(blkid --probe --offset "$root_off" -s UUID -o value "$raw")
check "root filesystem UUID new ($old_root -> $new_root)" test -n "$new_root" -a "$new_root" != "$old_root"
fstab=$(fs_cat "$raw" "$root_off" /etc/fstab)
check "fstab: / by its new UUID" grep -qE "^UUID=$new_root[[:space:]]+/[[:space:]]" <<< "$fstab"
grubcfg=$(fs_cat "$raw" "$root_off" /boot/grub/grub.cfg)
check_contains "grub.cfg: root= names the new UUID" "$grubcfg" "root=UUID=$new_root"
loadcfg=$(fs_cat "$raw" "$root_off" /boot/grub/i386-pc/load.cfg || true)
check_contains "GRUB's core image finds /boot by the new UUID" "$loadcfg" "search.fs_uuid $new_root"
check_not_contains "GRUB's core image: the old UUID gone" "$loadcfg" "$old_root"
check_contains "GRUB boot code in the MBR" "$(dd if="$raw" bs=512 count=1 status=none | strings)" "GRUB"
check_contains "the reset installed GRUB's core image again" "$(cat "$T_TMP/reset.log")" "Installing for i386-pc platform."
check "root: e2fsck -fn clean" e2fsck -fn "$raw?offset=$root_off"
rm -f "$raw" "$legacy"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$out" --format qcow2 --firmware bios --timeout 240 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "legacy image with reset ids boots under SeaBIOS and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_eq "/ on the root partition" "/dev/vda2 ext4" "$(fact "mount /")"
check_eq "booted without UEFI" "no" "$(fact efi)"
check_contains "root= by the new UUID" "$(fact cmdline)" "root=UUID=$new_root"
t_done
