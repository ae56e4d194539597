#!/usr/bin/env bash
# Two-stage verity (issue 10; ALIC's storage.verity[].dataDevice/hashDevice):
# a first run makes a base image from debian-dracut with a GPT layout (ESP,
# /boot, a root partition labelled root-data, an empty partition labelled
# root-hash and a 1 MiB one labelled tiny-hash, dracut installed); a second
# run adds root verity on those partitions without `disks`. Read back
# offline: the tree verifies in process and with `veritysetup verify`
# against grub.cfg's roothash (one flipped byte fails), the kernel arguments
# are exact, fstab opens / from /dev/mapper/root read-only, the initramfs has
# systemd-veritysetup, nothing leaked. Errors: ALIC's config rules (with
# file:line:column), an unknown label, a hash partition too small (sizes
# named, refused before the customization), a hash partition with a filesystem.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
command -v veritysetup >/dev/null || { echo "SKIP veritysetup missing (cryptsetup-bin)"; exit 77; }
image_env debian-dracut

base=$T_TMP/base.raw
cat > "$T_TMP/base.yaml" <<YAML
storage:
  bootType: efi
  disks:
  - partitionTableType: gpt
    maxSize: 3G
    partitions:
    - {id: esp, type: esp, start: 1M, size: 64M, label: esp}
    - {id: boot, type: xbootldr, size: 256M, label: boot}
    - {id: root, type: root, size: 2G, label: root-data}
    - {id: roothash, type: root-verity, size: 64M, label: root-hash}
    - {id: tiny, type: linux-generic, size: 1M, label: tiny-hash}
  filesystems:
  - deviceId: esp
    type: fat32
    mountPoint: {path: /boot/efi, options: umask=0077}
  - deviceId: boot
    type: ext4
    mountPoint: /boot
  - deviceId: root
    type: ext4
    mountPoint: /
os:
  bootloader:
    resetType: hard-reset
  kernelCommandLine:
    extraCommandLine:
    - console=ttyS0,115200n8
  packages:
    install:
    - dracut
output:
  image:
    path: $base
    format: raw
YAML
set +e
"$IMGRECIPE" build "$T_TMP/base.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b0" 2> "$T_TMP/base.log"
rc=$?
set -e
check_eq "base image (first run) builds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/base.log"; t_done; }

# The second run: verity on the base image's existing partitions.
verity_config() {  # verity_config FILE OUTPUT HASH_LABEL
    cat > "$1" <<YAML
storage:
  verity:
  - id: verityroot
    name: root
    dataDevice:
      idType: part-label
      id: root-data
    hashDevice:
      idType: part-label
      id: $3
    hashDeviceMountIdType: part-label
    corruptionOption: panic
output:
  image:
    path: $2
    format: raw
YAML
}
out=$T_TMP/verity.raw
verity_config "$T_TMP/v.yaml" "$out" root-hash
set +e
"$IMGRECIPE" build "$T_TMP/v.yaml" --image-file "$base" --build-dir "$T_TMP/b1" 2> "$T_TMP/build.log"
rc=$?
set -e
check_eq "two-stage verity build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/build.log"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check "verity step before the output" awk '/\[verity initramfs\] start/ { i = NR } /\[verity\] start/ { v = NR } /\[write output\] start/ { w = NR } END { exit !(i && v && w && i < v && v < w) }' "$T_TMP/build.log"

table=$(sfdisk -J "$out")
declare -A off size partuuid
names=(esp boot root roothash tiny)
for i in 0 1 2 3 4; do
    n=${names[$i]}
    off[$n]=$(( $(jq ".partitiontable.partitions[$i].start" <<< "$table") * 512 ))
    size[$n]=$(( $(jq ".partitiontable.partitions[$i].size" <<< "$table") * 512 ))
    partuuid[$n]=$(jq -r ".partitiontable.partitions[$i].uuid" <<< "$table" | tr 'A-F' 'a-f')
done
check_eq "partition table unchanged from the base" "$(sfdisk -J "$base" | jq -c '[.partitiontable.partitions[] | del(.node)]')" \
    "$(jq -c '[.partitiontable.partitions[] | del(.node)]' <<< "$table")"

grubcfg=$(fs_cat "$out" "${off[boot]}" /grub/grub.cfg)
roothash=$(grep -o 'roothash=[0-9a-f]*' <<< "$grubcfg" | head -1 | cut -d= -f2)
check_eq "root hash in grub.cfg is sha256 hex" 64 "${#roothash}"
# (the disk must be inside the build directory: disk.open writes only there)
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/verity_check.lua" --build-dir "$T_TMP" \
    --param disk="$out" --param data=3 --param hash=4 --param root_hash="$roothash" --param report="$T_TMP/report" 2> "$T_TMP/check.log" || tail -5 "$T_TMP/check.log"
check_eq "in-process verify (imgrecipe.verity.verify)" "verify=true:nil" "$(cat "$T_TMP/report" 2>/dev/null)"
part() { dd if="$out" of="$2" bs=1M iflag=skip_bytes,count_bytes skip="${off[$1]}" count="${size[$1]}" conv=sparse status=none; }
part root "$T_TMP/root.img"
part roothash "$T_TMP/hash.img"
check "veritysetup verify: the hash partition matches grub.cfg's roothash" \
    veritysetup verify "$T_TMP/root.img" "$T_TMP/hash.img" "$roothash"
dump=$(veritysetup dump "$T_TMP/hash.img" | tr -s ' \t' ' ')
check_contains "whole data partition hashed" "$dump" "Data blocks: $(( size[root] / 4096 ))"
args="rd.systemd.verity=1 roothash=$roothash systemd.verity_root_data=PARTUUID=${partuuid[root]} systemd.verity_root_hash=PARTLABEL=root-hash systemd.verity_root_options=panic-on-corruption root=/dev/mapper/root"
linux=$(grep -E '^\s*linux\s' <<< "$grubcfg" | head -1)
check_contains "kernel arguments exact (ALIC's, in order)" "$linux" "$args"
check_not_contains "no root=PARTUUID/UUID left" "$linux" "root=UUID"
check_eq "every kernel line has the roothash" "$(grep -cE '^\s*linux\s' <<< "$grubcfg")" "$(grep -cE "^\s*linux\s.*roothash=$roothash" <<< "$grubcfg")"
check_contains "extra kernel argument of the base kept" "$linux" "console=ttyS0,115200n8"
fstab=$(fs_cat "$out" "${off[root]}" /etc/fstab)
check "fstab: / from /dev/mapper/root, ro" grep -qE '^/dev/mapper/root\s+/\s+ext4\s+ro(\s|,)' <<< "$fstab"
check "fstab: /boot kept" grep -qE '\s/boot\s+ext4\s' <<< "$fstab"
check "root: e2fsck -fn clean" e2fsck -fn "$T_TMP/root.img"
check_contains "/etc/default/grub: GRUB_DEVICE=/dev/mapper/root" "$(fs_cat "$out" "${off[root]}" /etc/default/grub)" "GRUB_DEVICE=/dev/mapper/root"
initrd=$(debugfs -R 'ls -p /' "$out?offset=${off[boot]}" 2>/dev/null | awk -F/ '/initrd.img-/ && !done { print $6; done = 1 }')
fs_cat "$out" "${off[boot]}" "/$initrd" > "$T_TMP/initrd.img"
case $(head -c 4 "$T_TMP/initrd.img" | od -An -tx1 | tr -d ' ') in
    28b52ffd) decompress=(zstd -dc) ;;
    1f8b*) decompress=(gzip -dc) ;;
    fd377a58) decompress=(xz -dc) ;;
    *) decompress=(cat) ;;
esac
listing=$("${decompress[@]}" "$T_TMP/initrd.img" | cpio -it --quiet 2>/dev/null || true)
check_contains "initramfs: systemd-veritysetup" "$listing" "/systemd-veritysetup"
check_contains "initramfs: dm-verity driver" "$listing" "dm-verity.ko"
printf '\x55' | dd of="$T_TMP/root.img" bs=1 seek=$((1024 * 1024 + 17)) conv=notrunc status=none
check "one flipped data byte fails veritysetup verify" bash -c "! veritysetup verify '$T_TMP/root.img' '$T_TMP/hash.img' '$roothash' 2>/dev/null"
rm -f "$T_TMP/root.img" "$T_TMP/hash.img" "$T_TMP/initrd.img" "$out"

# hashSignaturePath (preview output-artifacts): the signature argument,
# pre.verity.mount=<boot filesystem UUID>, imgrecipe's dracut module that
# mounts /boot in the initramfs before systemd-veritysetup, the verity-hash
# artifact. (Booted with a trusted key: tests/boot/test_verity_signature.sh.)
sig=$T_TMP/signed.raw
verity_config "$T_TMP/sig.yaml" "$sig" root-hash
cat >> "$T_TMP/sig.yaml" <<YAML
  artifacts:
    path: $T_TMP/artifacts
    items: [verity-hash]
previewFeatures: [output-artifacts]
YAML
sed -i 's|^    corruptionOption: panic|    corruptionOption: panic\n    hashSignaturePath: /boot/root.hash.sig|' "$T_TMP/sig.yaml"
set +e
"$IMGRECIPE" build "$T_TMP/sig.yaml" --image-file "$base" --build-dir "$T_TMP/b9" 2> "$T_TMP/sig.log"
rc=$?
set -e
check_eq "signed two-stage verity build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/sig.log"
grubcfg=$(fs_cat "$sig" "${off[boot]}" /grub/grub.cfg)
roothash=$(grep -o 'roothash=[0-9a-f]*' <<< "$grubcfg" | head -1 | cut -d= -f2)
bootuuid=$(blkid --probe --offset "${off[boot]}" --size "${size[boot]}" -s UUID -o value "$sig")
args="rd.systemd.verity=1 roothash=$roothash systemd.verity_root_data=PARTUUID=${partuuid[root]} systemd.verity_root_hash=PARTLABEL=root-hash systemd.verity_root_options=panic-on-corruption,root-hash-signature=/boot/root.hash.sig pre.verity.mount=$bootuuid root=/dev/mapper/root"
check_contains "signed: kernel arguments exact" "$(grep -E '^\s*linux\s' <<< "$grubcfg" | head -1)" "$args"
check_eq "verity-hash artifact: the root hash" "$roothash" "$(cat "$T_TMP/artifacts/verity-hash/root.hash.sig" 2>/dev/null || cat "$T_TMP/artifacts/verity-hash/root.hash" 2>/dev/null)"
ls -R "$T_TMP/artifacts" > "$T_TMP/artifacts.list" 2>&1 || true
check "artifacts: inject-files.yaml" test -f "$T_TMP/artifacts/inject-files.yaml"
mod=/usr/lib/dracut/modules.d/90imgrecipe-mountboot
for f in module-setup.sh imgrecipe-mount-boot.service imgrecipe-mount-boot.sh; do
    check "module in the image: $f" bash -c "debugfs -R 'stat $mod/$f' '$sig?offset=${off[root]}' 2>&1 | grep -q 'Type: regular'"
done
check_contains "dracut config adds the module" \
    "$(fs_cat "$sig" "${off[root]}" /etc/dracut.conf.d/50-imgrecipe-verity.conf)" 'add_dracutmodules+=" systemd-veritysetup imgrecipe-mountboot "'
initrd=$(debugfs -R 'ls -p /' "$sig?offset=${off[boot]}" 2>/dev/null | awk -F/ '/initrd.img-/ && !done { print $6; done = 1 }')
fs_cat "$sig" "${off[boot]}" "/$initrd" > "$T_TMP/initrd.img"
case $(head -c 4 "$T_TMP/initrd.img" | od -An -tx1 | tr -d ' ') in
    28b52ffd) decompress=(zstd -dc) ;;
    1f8b*) decompress=(gzip -dc) ;;
    fd377a58) decompress=(xz -dc) ;;
    *) decompress=(cat) ;;
esac
listing=$("${decompress[@]}" "$T_TMP/initrd.img" | cpio -it --quiet 2>/dev/null || true)
check_contains "initramfs: the mount-boot unit" "$listing" "systemd/system/imgrecipe-mount-boot.service"
check_contains "initramfs: ordered before systemd-veritysetup@root" "$listing" "systemd-veritysetup@root.service.requires/imgrecipe-mount-boot.service"
check_contains "initramfs: the mount-boot script" "$listing" "usr/sbin/imgrecipe-mount-boot"
unit=$(mkdir -p "$T_TMP/unpack" && cd "$T_TMP/unpack" && "${decompress[@]}" "$T_TMP/initrd.img" | cpio -id --quiet 'usr/lib/systemd/system/imgrecipe-mount-boot.service' 2>/dev/null; cat "$T_TMP/unpack/usr/lib/systemd/system/imgrecipe-mount-boot.service" 2>/dev/null)
check_contains "initramfs unit: Before=systemd-veritysetup@root.service" "$unit" "Before=systemd-veritysetup@root.service"
check_contains "initramfs unit: unmounts /boot when it stops (before switch-root)" "$unit" "ExecStop=/usr/sbin/imgrecipe-mount-boot stop"
check_contains "initramfs: umount for it" "$listing" "bin/umount"
rm -rf "$sig" "$T_TMP/initrd.img" "$T_TMP/unpack"

# Errors at run time.
verity_config "$T_TMP/tiny.yaml" "$T_TMP/tiny.raw" tiny-hash
msg=$("$IMGRECIPE" build "$T_TMP/tiny.yaml" --image-file "$base" --build-dir "$T_TMP/b3" 2>&1 || true)
check_contains "hash partition too small: error names the sizes" "$msg" "the hash partition 'tiny-hash' (partition 5) is too small"
check_contains "... bytes available" "$msg" "the partition has $(( 1024 * 1024 ))"
check "no output left after the error" test ! -e "$T_TMP/tiny.raw"
check_contains "... refused when the image is opened, before the customization" "$msg" "step 'open'"
verity_config "$T_TMP/fs.yaml" "$T_TMP/fs.raw" boot
msg=$("$IMGRECIPE" build "$T_TMP/fs.yaml" --image-file "$base" --build-dir "$T_TMP/b4" 2>&1 || true)
check_contains "hash partition mounted by fstab: refused" "$msg" "the hash partition (part-label=boot) is mounted at /boot"
verity_config "$T_TMP/nolabel.yaml" "$T_TMP/nolabel.raw" no-such-label
msg=$("$IMGRECIPE" build "$T_TMP/nolabel.yaml" --image-file "$base" --build-dir "$T_TMP/b5" 2>&1 || true)
check_contains "unknown label: error" "$msg" "partition not found (part-label=no-such-label)"

# Config errors (ALIC's rules), before anything is built.
cat > "$T_TMP/mixed.yaml" <<YAML
storage:
  verity:
  - id: v
    name: root
    dataDeviceId: root
    dataDevice: {idType: part-label, id: root-data}
    hashDevice: {idType: part-label, id: root-hash}
YAML
msg=$("$IMGRECIPE" build "$T_TMP/mixed.yaml" --image-file "$base" --build-dir "$T_TMP/b6" 2>&1 || true)
check_contains "dataDeviceId and dataDevice: error with file:line:column" "$msg" "mixed.yaml:3:5: storage.verity[0]: 'dataDeviceId' and 'dataDevice' cannot both be set"
check_contains "styles mixed: error" "$msg" "cannot mix 'dataDeviceId'/'hashDeviceId' with 'dataDevice'/'hashDevice'"
cat > "$T_TMP/ids.yaml" <<YAML
storage:
  verity:
  - id: v
    name: root
    dataDeviceId: root
    hashDeviceId: roothash
YAML
msg=$("$IMGRECIPE" build "$T_TMP/ids.yaml" --image-file "$base" --build-dir "$T_TMP/b7" 2>&1 || true)
check_contains "ids without disks: ALIC's error" "$msg" "ids.yaml:2:3: storage.verity: cannot specify 'verity' with dataDeviceId/hashDeviceId without specifying 'disks'"
sed '/^os:/,$d' "$T_TMP/base.yaml" > "$T_TMP/disks.yaml"
cat >> "$T_TMP/disks.yaml" <<YAML
  verity:
  - id: v
    name: root
    dataDevice: {idType: part-label, id: root-data}
    hashDevice: {idType: part-label, id: root-hash}
YAML
msg=$("$IMGRECIPE" build "$T_TMP/disks.yaml" --image-file "$base" --build-dir "$T_TMP/b8" 2>&1 || true)
check_contains "devices with disks: ALIC's error" "$msg" "cannot specify both 'verity' with dataDevice/hashDevice and 'disks'"
rm -f "$base"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
t_done
