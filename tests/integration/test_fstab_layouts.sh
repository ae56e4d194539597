#!/usr/bin/env bash
# Partition tables and fstab sources beyond the base images: an MBR disk with
# a FAT16 ESP found by LABEL= and a root by PARTUUID=<id>-02, and a GPT disk
# whose fstab uses PARTLABEL=, a /dev/vdaN path and a missing nofail entry.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

MiB=1048576
make_root() {  # make_root DIR FSTAB
    mkdir -p "$1/etc" "$1/boot/efi" "$1/srv/data"
    printf '%s\n' "$2" > "$1/etc/fstab"
    printf 'ID=test\n' > "$1/etc/os-release"
    printf 'old\n' > "$1/etc/hostname"
    # A kernel's modules dir: builds check that a kernel is installed.
    mkdir -p "$1/lib/modules/0" && : > "$1/lib/modules/0/modules.dep"
}

# --- MBR: p1 FAT16 (LABEL=MYESP), p2 ext4 root.
mbr=$T_TMP/mbr.raw
truncate -s 64M "$mbr"
printf 'label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=32768, type=6\nstart=34816, type=83\n' | sfdisk -q "$mbr"
make_root "$T_TMP/mbr-root" "PARTUUID=1234abcd-02 / ext4 defaults 0 1
LABEL=MYESP /boot/efi vfat umask=0077 0 2"
mkfs.vfat -F 16 -n MYESP -i 0badcafe --offset 2048 "$mbr" 16384 >/dev/null
mkfs.ext4 -q -F -E offset=$((34816 * 512)) -d "$T_TMP/mbr-root" "$mbr" $(( (64 * MiB - 34816 * 512) / 1024 ))k

cat > "$T_TMP/mbr.yaml" <<YAML
os:
  hostname: mbr-host
  additionalFiles:
    - {content: "esp file", destination: /boot/efi/hello.txt}
YAML
"$IMGRECIPE" build "$T_TMP/mbr.yaml" --image-file "$mbr" --output-image-file "$T_TMP/mbr-out.raw" \
    --output-image-format raw --build-dir "$T_TMP/b" 2> "$T_TMP/mbr.log" || { tail -20 "$T_TMP/mbr.log"; t_fail "MBR build"; }
check_eq "MBR: hostname" "mbr-host" "$(fs_cat "$T_TMP/mbr-out.raw" $((34816 * 512)) /etc/hostname)"
check_eq "MBR: FAT16 ESP by LABEL=" "esp file" "$(fat_cat "$T_TMP/mbr-out.raw" $((2048 * 512)) /hello.txt)"
check_eq "MBR: FAT16 label kept" "MYESP" "$(blkid --probe --offset $((2048 * 512)) -s LABEL -o value "$T_TMP/mbr-out.raw")"
check_eq "MBR: FAT16 volume ID kept" "0BAD-CAFE" "$(blkid --probe --offset $((2048 * 512)) -s UUID -o value "$T_TMP/mbr-out.raw")"
check_eq "MBR: disk id kept" "0x1234abcd" "$(sfdisk --disk-id "$T_TMP/mbr-out.raw")"

# --- GPT: p1 ESP (40 MiB: FAT32 needs 65525+ clusters), p2 root, p3 data (PARTLABEL=data).
gpt=$T_TMP/gpt.raw
truncate -s 128M "$gpt"
sfdisk -q "$gpt" <<'SF'
label: gpt
start=2048, size=81920, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
start=83968, size=98304, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root
start=182272, size=24576, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=data
SF
make_root "$T_TMP/gpt-root" "PARTLABEL=root / ext4 defaults 0 1
/dev/vda1 /boot/efi vfat defaults 0 2
PARTLABEL=data /srv/data ext4 defaults 0 2
UUID=00000000-dead-beef-0000-000000000000 /mnt/usb ext4 nofail 0 2
tmpfs /tmp tmpfs defaults 0 0"
mkfs.vfat -F 32 -s 1 --offset 2048 "$gpt" 40960 >/dev/null
mkfs.ext4 -q -F -E offset=$((83968 * 512)) -d "$T_TMP/gpt-root" "$gpt" $((98304 / 2))k
mkdir -p "$T_TMP/empty"
mkfs.ext4 -q -F -L datafs -E offset=$((182272 * 512)) -d "$T_TMP/empty" "$gpt" $((24576 / 2))k

cat > "$T_TMP/gpt.yaml" <<YAML
os:
  additionalFiles:
    - {content: "data file", destination: /srv/data/d.txt}
    - {content: "esp32 file", destination: /boot/efi/EFI/x.txt}
YAML
"$IMGRECIPE" build "$T_TMP/gpt.yaml" --image-file "$gpt" --output-image-file "$T_TMP/gpt-out.qcow2" \
    --output-image-format qcow2 --build-dir "$T_TMP/b" --log-level debug 2> "$T_TMP/gpt.log" || { tail -20 "$T_TMP/gpt.log"; t_fail "GPT build"; }
to_raw "$T_TMP/gpt-out.qcow2" "$T_TMP/gpt-out.raw"
check_eq "GPT: PARTLABEL= data mount" "data file" "$(fs_cat "$T_TMP/gpt-out.raw" $((182272 * 512)) /d.txt)"
check_eq "GPT: /dev/vda1 ESP" "esp32 file" "$(fat_cat "$T_TMP/gpt-out.raw" $((2048 * 512)) /EFI/x.txt)"
check "GPT: not written into the root's mount point dir" fs_absent "$T_TMP/gpt-out.raw" $((83968 * 512)) /srv/data/d.txt
check_contains "GPT: nofail entry skipped" "$(cat "$T_TMP/gpt.log")" "fstab: skipping UUID=00000000-dead-beef-0000-000000000000 on /mnt/usb"

# An fstab entry that matches no partition (and is not nofail) is an error naming it.
make_root "$T_TMP/bad-root" "UUID=11111111-2222-3333-4444-555555555555 /var ext4 defaults 0 2"
bad=$T_TMP/bad.raw
truncate -s 32M "$bad"
printf 'label: gpt\nstart=2048, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\n' | sfdisk -q "$bad"
mkfs.ext4 -q -F -E offset=$((2048 * 512)) -d "$T_TMP/bad-root" "$bad" $(( (32 * MiB - 2048 * 512 - MiB) / 1024 ))k
set +e
msg=$("$IMGRECIPE" build "$T_TMP/gpt.yaml" --image-file "$bad" --output-image-file "$T_TMP/bad-out.raw" \
    --output-image-format raw --build-dir "$T_TMP/b" 2>&1)
rc=$?
set -e
check "unresolvable fstab entry fails" test "$rc" -ne 0
check_contains "unresolvable fstab entry named" "$msg" "UUID=11111111-2222-3333-4444-555555555555 /var' refers to no partition"
t_done
