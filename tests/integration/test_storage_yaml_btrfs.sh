#!/usr/bin/env bash
# YAML storage with btrfs subvolumes (preview `btrfs`): ESP, / on ext4, a
# btrfs partition with @home at /home (UUID=) and @srv at /srv (PARTUUID=,
# compress=zstd, a referenced quota of 256M), from the debian-base image.
# Read back offline: fstab with subvol=, the subvolumes and the qgroup limit
# in the btrfs trees, a file written at /srv/marker inside @srv.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

out=$T_TMP/btrfs.qcow2
cat > "$T_TMP/btrfs.yaml" <<YAML
previewFeatures: [btrfs]
storage:
  bootType: efi
  disks:
  - partitionTableType: gpt
    maxSize: 3G
    partitions:
    - {id: esp, type: esp, size: 64M}
    - {id: root, type: root, size: 1536M}
    - {id: data, size: grow, label: data}
  filesystems:
  - deviceId: esp
    type: fat32
    mountPoint: {path: /boot/efi, options: umask=0077}
  - deviceId: root
    type: ext4
    mountPoint: /
  - deviceId: data
    type: btrfs
    btrfs:
      subvolumes:
      - path: "@home"
        mountPoint: {path: /home, idType: uuid}
      - path: "@srv"
        mountPoint: {path: /srv, options: compress=zstd}
        quota: {referencedLimit: 256M}
      - path: "@unmounted"
os:
  bootloader:
    resetType: hard-reset
  additionalFiles:
  - destination: /srv/marker
    content: on the srv subvolume
output: {image: {path: $out, format: qcow2}}
YAML
set +e
"$IMGRECIPE" build "$T_TMP/btrfs.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2> "$T_TMP/build.log"
rc=$?
set -e
check_eq "build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/build.log"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"

raw=$T_TMP/btrfs.raw
to_raw "$out" "$raw"
table=$(sfdisk -J "$raw")
part() { jq -r ".partitiontable.partitions[$1].$2" <<< "$table"; }
root_off=$(( $(part 1 start) * 512 ))
data_off=$(( $(part 2 start) * 512 ))
data_size=$(( $(part 2 size) * 512 ))
root_pu=$(part 1 uuid | tr 'A-F' 'a-f')
data_pu=$(part 2 uuid | tr 'A-F' 'a-f')
data_uuid=$(blkid --probe --offset "$data_off" --size "$data_size" -s UUID -o value "$raw")
esp_uuid=$(blkid --probe --offset 1048576 --size $((64 << 20)) -s UUID -o value "$raw")
expected="# /etc/fstab: written by imgrecipe from the storage layout
PARTUUID=$root_pu / ext4 defaults 0 1
PARTUUID=$(part 0 uuid | tr 'A-F' 'a-f') /boot/efi vfat umask=0077 0 2
UUID=$data_uuid /home btrfs subvol=@home 0 2
PARTUUID=$data_pu /srv btrfs compress=zstd,subvol=@srv 0 2"
check_eq "fstab: subvolumes with subvol=, options and id types" "$expected" "$(fs_cat "$raw" "$root_off" /etc/fstab)"
check "ESP formatted" test -n "$esp_uuid"
dd if="$raw" of="$T_TMP/data.img" bs=1M iflag=skip_bytes,count_bytes skip="$data_off" count="$data_size" conv=sparse status=none
check "data: btrfs check clean" btrfs check --readonly "$T_TMP/data.img"
roots=$(btrfs inspect-internal dump-tree -t root "$T_TMP/data.img" 2>/dev/null)
for sv in @home @srv @unmounted; do check_contains "subvolume $sv" "$roots" "name $sv"; done
srv_id=$(awk '/ROOT_REF/ { id = $6 } /name @srv/ { print id; exit }' <<< "$roots" | tr -d ')')
srv_id=${srv_id:-$(grep -B3 'name @srv' <<< "$roots" | grep -o 'ROOT_REF [0-9]*' | awk '{ print $2 }' | head -1)}
check "found @srv's id ($srv_id)" test -n "$srv_id"
check_contains "/srv/marker written inside @srv" "$(btrfs inspect-internal dump-tree -t "$srv_id" "$T_TMP/data.img" 2>/dev/null)" "name: marker"
check_contains "quota limit on @srv (256 MiB referenced)" \
    "$(btrfs inspect-internal dump-tree -t quota "$T_TMP/data.img" 2>/dev/null)" "max_referenced $((256 << 20))"
rm -f "$T_TMP/data.img" "$raw"
t_done
