#!/usr/bin/env bash
# Input images are untrusted. A qcow2 naming a backing file or an external
# data file on the host is refused before qemu-img reads anything, and the
# host file's content reaches no output. Broken inputs (empty, a directory,
# random bytes, truncated raw and qcow2, a zeroed superblock, corrupt group
# descriptors, a corrupt FAT, no /etc/fstab) fail with a message that names the input the
# user gave and says what is wrong in words, never the scratch copy or a bare
# "Invalid argument"; an fstab whose root matches no partition is warned about.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
loops0=$(all_loops)
printf 'os: {hostname: untrusted}\n' > "$T_TMP/config.yaml"

# build NAME INPUT -> runs a build into $T_TMP/out/NAME.raw; sets rc and log.
build() {
    set +e
    log=$("$IMGRECIPE" build "$T_TMP/config.yaml" --image-file "$2" --output-image-file "$T_TMP/out/$1.raw" \
        --output-image-format raw --build-dir "$T_TMP/build" 2>&1)
    rc=$?
    set -e
}

# refused NAME INPUT EXPECTED...: fails, naming the input and each EXPECTED
# text, with nothing left behind and the input unchanged.
refused() {
    local name=$1 input=$2; shift 2
    local sum=""
    [[ -f "$input" ]] && sum=$(sha256sum "$input" | cut -d' ' -f1)
    build "$name" "$input"
    check "$name: refused" test "$rc" -ne 0
    check_contains "$name: names the input" "$log" "input image $input:"
    for msg in "$@"; do check_contains "$name: says why" "$log" "$msg"; done
    local err
    err=$(grep -A3 '^error:' <<< "$log" || true)
    check_contains "$name: an error line" "$err" "error:"
    check_not_contains "$name: the error names no scratch copy" "$err" "image.raw"
    check_not_contains "$name: no bare errno text" "$err" "Invalid argument"
    check "$name: no output" test ! -e "$T_TMP/out/$name.raw"
    check_eq "$name: no loop device left" "$loops0" "$(all_loops)"
    check_eq "$name: no mount left" 0 "$(mounts_under "$T_TMP")"
    [[ -z "$sum" ]] || check_eq "$name: input unchanged" "$sum" "$(sha256sum "$input" | cut -d' ' -f1)"
}

# A private raw copy of the tiny image to break: copy NAME -> path.
copy() {
    local p=$T_TMP/in/$1
    mkdir -p "$T_TMP/in"
    cp --sparse=always "$IMG_PATH" "$p"
    chmod 0644 "$p"
    echo "$p"
}

# 1. Host files named by a qcow2 header. The marker sits at 600000 bytes, in
# the gap before the first partition: a cluster the qcow2 does not allocate
# (read from the backing file) and a byte the raw data file maps 1:1.
marker="HOST-SECRET-$$-$RANDOM$RANDOM"
host=$T_TMP/host/secret.raw
mkdir -p "$T_TMP/host" "$T_TMP/out"
truncate -s "$IMG_SIZE" "$host"
printf '%s' "$marker" | dd of="$host" bs=1 seek=600000 conv=notrunc status=none
qemu-img convert -q -O qcow2 "$IMG_PATH" "$T_TMP/in-backing.qcow2"
qemu-img rebase -q -u -b "$host" -F raw "$T_TMP/in-backing.qcow2"
refused backing-file "$T_TMP/in-backing.qcow2" "it names a backing file ($host)" "untrusted" "qemu-img convert"

data=$T_TMP/host/data.raw
qemu-img convert -q -O qcow2 -o "data_file=$data,data_file_raw=on" "$IMG_PATH" "$T_TMP/in-data.qcow2"
printf '%s' "$marker" | dd of="$data" bs=1 seek=600000 conv=notrunc status=none
refused data-file "$T_TMP/in-data.qcow2" "it uses an external data file ($data)" "untrusted"
check_eq "the host marker is in no output or build file" "" \
    "$(grep -rlaF --exclude-dir=host -- "$marker" "$T_TMP" || true)"

# 2. Files that are no disk image at all.
: > "$T_TMP/in-empty.img"
refused empty "$T_TMP/in-empty.img" "it is empty (0 bytes)"
mkdir -p "$T_TMP/in-dir.img"
refused directory "$T_TMP/in-dir.img" "it is a directory"
head -c 8M /dev/urandom > "$T_TMP/in-random.img"
refused random-bytes "$T_TMP/in-random.img" "no partition table" "not a disk image?"

# 3. Truncated images.
p=$(copy truncated.raw)
truncate -s 45M "$p"
refused truncated-raw "$p" "the image is truncated"
qemu-img convert -q -O qcow2 "$IMG_PATH" "$T_TMP/in-trunc.qcow2"
truncate -s $(( $(stat -c %s "$T_TMP/in-trunc.qcow2") / 2 )) "$T_TMP/in-trunc.qcow2"
refused truncated-qcow2 "$T_TMP/in-trunc.qcow2" "the qcow2 image is truncated"

# 4. Corrupt filesystems.
p=$(copy zero-superblock.raw)
dd if=/dev/zero of="$p" bs=1024 count=1 seek=$(( (ROOT_OFFSET + 1024) / 1024 )) conv=notrunc status=none
refused zero-superblock "$p" "partition $ROOT_PARTNUM (Linux root (x86-64)) holds no recognizable filesystem" \
    "corrupt (bad superblock)"
p=$(copy bad-descriptors.raw)
# The group descriptors follow the superblock (4 KiB blocks): blkid still
# sees ext4, the kernel refuses to mount it.
dd if=/dev/zero of="$p" bs=1024 count=4 seek=$(( (ROOT_OFFSET + 4096) / 1024 )) conv=notrunc status=none
refused bad-descriptors "$p" "partition $ROOT_PARTNUM (ext4) cannot be mounted: the filesystem is corrupt"

# Random bytes over the ESP's first FAT (after its reserved sectors): mtools
# refuses it (where the kernel mounts vfat itself, it would not notice).
if ! grep -qw vfat /proc/filesystems; then
    p=$(copy bad-fat.raw)
    reserved=$(od -An -tu2 -j $(( ESP_OFFSET + 14 )) -N2 "$p" | tr -d ' ')
    dd if=/dev/urandom of="$p" bs=512 count=64 seek=$(( ESP_OFFSET / 512 + reserved )) conv=notrunc status=none
    refused bad-fat "$p" "partition $ESP_PARTNUM (vfat) for /boot/efi (/etc/fstab line" \
        "cannot be mounted: the FAT filesystem is corrupt"
else
    t_log "vfat is mountable here: the staged-FAT corruption case is skipped"
fi

# 5. No root with /etc/fstab.
p=$(copy no-fstab.raw)
debugfs -w -R "rm /etc/fstab" "$p?offset=$ROOT_OFFSET" >/dev/null 2>&1
check "no-fstab: fstab removed" fs_absent "$p" "$ROOT_OFFSET" /etc/fstab
refused no-fstab "$p" "no partition holds a root filesystem with /etc/fstab" "partition $ROOT_PARTNUM (ext4) has no /etc/fstab"

# 6. An fstab whose root UUID matches nothing: built, with a warning naming the line.
p=$(copy bad-root-uuid.raw)
fs_cat "$IMG_PATH" "$ROOT_OFFSET" /etc/fstab | sed "s/$ROOT_UUID/00000000-1111-2222-3333-444444444444/" > "$T_TMP/fstab"
check "bad-root-uuid: fstab names the root by UUID" grep -q "^UUID=$ROOT_UUID " <(fs_cat "$IMG_PATH" "$ROOT_OFFSET" /etc/fstab)
root_line=$(grep -n '^UUID=00000000-1111' "$T_TMP/fstab" | cut -d: -f1)
debugfs -w -R "rm /etc/fstab" "$p?offset=$ROOT_OFFSET" >/dev/null 2>&1
debugfs -w -R "write $T_TMP/fstab /etc/fstab" "$p?offset=$ROOT_OFFSET" >/dev/null 2>&1
check_eq "bad-root-uuid: fstab replaced" "$(cat "$T_TMP/fstab")" "$(fs_cat "$p" "$ROOT_OFFSET" /etc/fstab)"
build bad-root-uuid "$p"
check_eq "bad-root-uuid: built" 0 "$rc"
check_contains "bad-root-uuid: warning names the input and the line" "$log" \
    "warn: [open] input image $p: /etc/fstab line $root_line 'UUID=00000000-1111-2222-3333-444444444444 /"
check_contains "bad-root-uuid: warning says what is wrong" "$log" "names a root that matches no partition of the image"
check_eq "bad-root-uuid: no loop device left" "$loops0" "$(all_loops)"
t_done
