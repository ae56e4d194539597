#!/usr/bin/env bash
# storage.resetPartitionsUuidsType: reset-all on the debian-base image: every
# PARTUUID and filesystem UUID is new, /etc/fstab follows (UUID= entries),
# grub.cfg is regenerated naming the new root UUID and the ESP's GRUB
# searches the new boot filesystem (a built BOOTX64.EFI, and a packaged
# EFI/debian/grubx64.efi's stub grub.cfg); the input is untouched. The output is
# kept for tests/boot/test_reset_uuids.sh when RESET_UUIDS_KEEP is set.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

out=${RESET_UUIDS_KEEP:-$T_TMP/reset.qcow2}
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
sum_before=$(sha256sum < "$IMG_PATH")
set +e
"$IMGRECIPE" build "$T_TMP/reset.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2> "$T_TMP/build.log"
rc=$?
set -e
check_eq "build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/build.log"
check_eq "input untouched" "$sum_before" "$(sha256sum < "$IMG_PATH")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"

raw=$T_TMP/reset.raw
to_raw "$out" "$raw"
old=$(sfdisk -J "$IMG_PATH")
new=$(sfdisk -J "$raw")
for i in 0 1; do
    o=$(jq -r ".partitiontable.partitions[$i].uuid" <<< "$old")
    n=$(jq -r ".partitiontable.partitions[$i].uuid" <<< "$new")
    check "partition $((i + 1)): new PARTUUID ($o -> $n)" test -n "$n" -a "$o" != "$n"
done
check_eq "disk layout otherwise unchanged (starts, sizes, types)" \
    "$(jq -c '[.partitiontable.partitions[] | [.start, .size, .type]]' <<< "$old")" \
    "$(jq -c '[.partitiontable.partitions[] | [.start, .size, .type]]' <<< "$new")"
new_root=$(blkid --probe --offset "$ROOT_OFFSET" -s UUID -o value "$raw")
new_esp=$(blkid --probe --offset "$ESP_OFFSET" -s UUID -o value "$raw")
old_esp=$(blkid --probe --offset "$ESP_OFFSET" -s UUID -o value "$IMG_PATH")
check "root filesystem UUID new" test -n "$new_root" -a "$new_root" != "$ROOT_UUID"
check "ESP volume ID new" test -n "$new_esp" -a "$new_esp" != "$old_esp"
fstab=$(fs_cat "$raw" "$ROOT_OFFSET" /etc/fstab)
check "fstab: root by its new UUID" grep -qE "^UUID=$new_root[[:space:]]+/[[:space:]]" <<< "$fstab"
check "fstab: ESP by its new volume ID" grep -qE "^UUID=$new_esp[[:space:]]+/boot/efi[[:space:]]" <<< "$fstab"
check_not_contains "fstab: old root UUID gone" "$fstab" "$ROOT_UUID"
grubcfg=$(fs_cat "$raw" "$ROOT_OFFSET" /boot/grub/grub.cfg)
check_contains "grub.cfg: root= names the new UUID" "$grubcfg" "root=UUID=$new_root"
check_not_contains "grub.cfg: old root UUID gone" "$grubcfg" "$ROOT_UUID"
efi=$(MTOOLS_SKIP_CHECK=1 mtype -i "$raw@@$ESP_OFFSET" ::/EFI/BOOT/BOOTX64.EFI | strings)
check_contains "ESP loader searches the new root UUID" "$efi" "--set=root $new_root"
check_not_contains "no loader left with the old UUID (no warning)" "$(cat "$T_TMP/build.log")" "embeds the old UUID"
check "root: e2fsck -fn clean" e2fsck -fn "$raw?offset=$ROOT_OFFSET"
rm -f "$raw"

# An ESP with a packaged GRUB (EFI/debian/grubx64.efi, its grub.cfg searching
# the root by the old UUID, as Debian's grub-install writes it): the stub
# beside it follows the new UUID.
cat > "$T_TMP/packaged.yaml" <<YAML
storage:
  resetPartitionsUuidsType: reset-all
os:
  bootloader:
    resetType: hard-reset
  additionalFiles:
  - destination: /boot/efi/EFI/debian/grubx64.efi
    content: "not a real EFI binary: only its presence matters here"
  - destination: /boot/efi/EFI/debian/grub.cfg
    content: |
      search.fs_uuid $ROOT_UUID root hd0,gpt2
      set prefix=(\$root)'/boot/grub'
      configfile \$prefix/grub.cfg
output: {image: {path: $T_TMP/packaged.qcow2, format: qcow2}}
YAML
set +e
"$IMGRECIPE" build "$T_TMP/packaged.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b3" 2> "$T_TMP/build3.log"
rc=$?
set -e
check_eq "packaged GRUB: build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -10 "$T_TMP/build3.log"
raw=$T_TMP/packaged.raw
to_raw "$T_TMP/packaged.qcow2" "$raw"
new_root=$(blkid --probe --offset "$ROOT_OFFSET" -s UUID -o value "$raw")
check_eq "packaged GRUB: EFI/debian/grub.cfg searches the new root UUID" \
    "search --no-floppy --fs-uuid --set=root $new_root
set prefix=(\$root)/boot/grub
configfile (\$root)/boot/grub/grub.cfg" "$(fat_cat "$raw" "$ESP_OFFSET" /EFI/debian/grub.cfg)"
# The image's EFI/BOOT/BOOTX64.EFI (built by grub-mkimage, the old UUID
# embedded) is not rebuilt when a packaged GRUB is there: said in a warning.
check_contains "packaged GRUB: warns about the loader still embedding the old UUID" "$(cat "$T_TMP/build3.log")" \
    "/boot/efi/EFI/BOOT/BOOTX64.EFI embeds the old UUID $ROOT_UUID"
rm -f "$raw" "$T_TMP/packaged.qcow2"

# A raw output (normally built in place beside the output): the reset works
# on a working copy in the build directory all the same.
set +e
"$IMGRECIPE" build "$T_TMP/reset.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b2" \
    --output-image-file "$T_TMP/reset.raw" --output-image-format raw 2> "$T_TMP/build2.log"
rc=$?
set -e
check_eq "raw output: build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -10 "$T_TMP/build2.log"
check "raw output: new root UUID" test "$(blkid --probe --offset "$ROOT_OFFSET" -s UUID -o value "$T_TMP/reset.raw")" != "$ROOT_UUID"
check_eq "raw output: nothing left beside the output" "reset.raw" "$(ls -A "$T_TMP" | grep '^\.\?reset\.raw')"
t_done
