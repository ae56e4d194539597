#!/usr/bin/env bash
# YAML storage: an A/B layout (tests/lib/ab_layout.sh) built from the
# debian-base image by `imgrecipe build`, read back offline: the partition
# table from the config, filesystems made where the config asks (root-b
# left unformatted), fstab by UUID / PARTUUID / PARTLABEL with the options,
# the OS copied, a file under /var/lib/state on the state filesystem, the
# EFI loader and grub.cfg pointing at the new root, nothing leaked.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/ab_layout.sh"
image_env debian-base

out=$T_TMP/ab.qcow2
ab_layout_config "$T_TMP/ab.yaml" "$out"
sum_before=$(stat -c '%s %Y' "$IMG_PATH")
set +e
"$IMGRECIPE" build "$T_TMP/ab.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2> "$T_TMP/build.log"
rc=$?
set -e
check_eq "build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/build.log"
check_eq "input untouched" "$sum_before" "$(stat -c '%s %Y' "$IMG_PATH")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "working files removed" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"
log=$(cat "$T_TMP/build.log")
check_contains "storage step before the OS steps" "$log" "[storage] start"
check "storage before additional files" awk '/\[storage\] start/ { s = NR } /\[additional files\] start/ { a = NR } END { exit !(s && a && s < a) }' "$T_TMP/build.log"

raw=$T_TMP/ab.raw
to_raw "$out" "$raw"
check_eq "4 GiB disk (maxSize)" $((4 * 1024 * 1024 * 1024)) "$(stat -c %s "$raw")"
table=$(sfdisk -J "$raw")
check_eq "GPT" gpt "$(jq -r .partitiontable.label <<< "$table")"
check_eq "labels" "esp root-a root-b state" "$(jq -r '[.partitiontable.partitions[].name] | join(" ")' <<< "$table")"
check_eq "types" "C12A7328-F81F-11D2-BA4B-00A0C93EC93B 4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709 4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709 0FC63DAF-8483-4772-8E79-3D69D8477DE4" \
    "$(jq -r '[.partitiontable.partitions[].type] | join(" ")' <<< "$table")"
declare -A off size partuuid uuid fstype
names=(esp root-a root-b state)
for i in 0 1 2 3; do
    n=${names[$i]}
    off[$n]=$(( $(jq ".partitiontable.partitions[$i].start" <<< "$table") * 512 ))
    size[$n]=$(( $(jq ".partitiontable.partitions[$i].size" <<< "$table") * 512 ))
    partuuid[$n]=$(jq -r ".partitiontable.partitions[$i].uuid" <<< "$table" | tr 'A-F' 'a-f')
    uuid[$n]=$(blkid --probe --offset "${off[$n]}" --size "${size[$n]}" -s UUID -o value "$raw" || true)
    fstype[$n]=$(blkid --probe --offset "${off[$n]}" --size "${size[$n]}" -s TYPE -o value "$raw" || true)
done
check_eq "esp at 1 MiB, 64 MiB" "1048576 67108864" "${off[esp]} ${size[esp]}"
check_eq "root-a and root-b 1536 MiB" "$((1536 << 20)) $((1536 << 20))" "${size[root-a]} ${size[root-b]}"
check_eq "state grows to the last MiB before the backup GPT" $(( (4096 - 1) * 1024 * 1024 )) $(( off[state] + size[state] ))
check_eq "filesystems: vfat ext4 (none) xfs" "vfat ext4 - xfs" "${fstype[esp]} ${fstype[root-a]} ${fstype[root-b]:--} ${fstype[state]}"

fstab=$(fs_cat "$raw" "${off[root-a]}" /etc/fstab)
expected="# /etc/fstab: written by imgrecipe from the storage layout
PARTUUID=${partuuid[root-a]} / ext4 defaults 0 1
UUID=${uuid[esp]} /boot/efi vfat umask=0077 0 2
PARTLABEL=state /var/lib/state xfs noatime 0 2"
check_eq "fstab from the config (idType and options)" "$expected" "$fstab"
check_eq "OS copied (os-release)" "$(fs_cat "$IMG_PATH" "$ROOT_OFFSET" /usr/lib/os-release)" \
    "$(fs_cat "$raw" "${off[root-a]}" /usr/lib/os-release)"
check_contains "customization applied to the new layout" \
    "$(fs_cat "$raw" "${off[root-a]}" /usr/local/bin/imgrecipe-check)" "IRCHECK-DONE"
check_eq "/var/lib/state on the root filesystem is an empty mount point" "" \
    "$(debugfs -R 'ls -p /var/lib/state' "$raw?offset=${off[root-a]}" 2>/dev/null | awk -F/ '/^\// && $6 != "." && $6 != ".." { print $6 }')"
dd if="$raw" of="$T_TMP/state.img" bs=1M iflag=skip_bytes,count_bytes skip="${off[state]}" count="${size[state]}" conv=sparse status=none
check "state: xfs_repair -n clean" xfs_repair -n -f "$T_TMP/state.img"
check_contains "file under /var/lib/state is on the state filesystem" \
    "$(xfs_db -r -f -c 'ls /' "$T_TMP/state.img" 2>&1)" "seeded"
rm -f "$T_TMP/state.img"
check "root-a: e2fsck -fn clean" e2fsck -fn "$raw?offset=${off[root-a]}"

grubcfg=$(fs_cat "$raw" "${off[root-a]}" /boot/grub/grub.cfg)
check_contains "grub.cfg boots root-a by PARTUUID (the / idType)" "$grubcfg" "root=PARTUUID=${partuuid[root-a]}"
check_contains "grub.cfg finds /boot on root-a by UUID" "$grubcfg" "${uuid[root-a]}"
check_not_contains "grub.cfg no longer names the input's root" "$grubcfg" "$ROOT_UUID"
check_contains "extra kernel argument" "$grubcfg" "console=ttyS0,115200n8"
efi=$(MTOOLS_SKIP_CHECK=1 mtype -i "$raw@@${off[esp]}" ::/EFI/BOOT/BOOTX64.EFI | strings)
check_contains "EFI loader searches the new root filesystem" "$efi" "search --no-floppy --fs-uuid --set=root ${uuid[root-a]}"
initrd=$(debugfs -R 'ls -p /boot' "$IMG_PATH?offset=$ROOT_OFFSET" 2>/dev/null | awk -F/ '/initrd.img-/ && !done { print $6; done = 1 }')
check "input has an initramfs" test -n "$initrd"
initrd_sum() { debugfs -R "cat /boot/$initrd" "$1?offset=$2" 2>/dev/null | sha256sum; }
check "initramfs regenerated in the image (differs from the input's)" test \
    "$(initrd_sum "$IMG_PATH" "$ROOT_OFFSET")" != "$(initrd_sum "$raw" "${off[root-a]}")"
check "ESP: fsck.fat -n clean" bash -c "dd if='$raw' of='$T_TMP/esp.img' bs=1M iflag=skip_bytes,count_bytes skip=${off[esp]} count=${size[esp]} status=none && fsck.fat -n '$T_TMP/esp.img'"

# A layout that does not fit maxSize fails before anything is written.
sed 's/maxSize: 4G/maxSize: 2G/' "$T_TMP/ab.yaml" > "$T_TMP/small.yaml"
set +e
msg=$("$IMGRECIPE" build "$T_TMP/small.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b2" \
    --output-image-file "$T_TMP/small.qcow2" 2>&1)
rc=$?
set -e
check "too small a disk fails" test "$rc" -ne 0
check_contains "the error names the partition" "$msg" "root-b"
check "no output written" test ! -e "$T_TMP/small.qcow2"
check_eq "no loop device left (failure)" 0 "$(all_loops)"
t_done
