#!/usr/bin/env bash
# YAML storage.verity (issue 10 §2): the debian-dracut image built into
# ESP + /boot + verity root (ro) + hash partition + /var, dracut installed by
# the config, read back offline: the hash partition verifies with
# `veritysetup verify` against the roothash in grub.cfg (and one flipped data
# byte fails), the kernel arguments are exact, fstab mounts / from
# /dev/mapper/root read-only, the root filesystem is clean and was not
# changed after hashing, the initramfs has systemd-veritysetup and dm-verity,
# nothing leaked. Also: the config errors (no /boot partition, no dracut).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
image_env debian-dracut

raw=$T_TMP/verity.raw
verity_layout_config "$T_TMP/v.yaml" "$raw" raw
set +e
"$IMGRECIPE" build "$T_TMP/v.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2> "$T_TMP/build.log"
rc=$?
set -e
check_eq "build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/build.log"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check "verity step after finalize and kernel check, before the output" awk '/\[kernel check\] start/ { k = NR } /\[verity\] start/ { v = NR } /\[write output\] start/ { w = NR } END { exit !(k && v && w && k < v && v < w) }' "$T_TMP/build.log"

table=$(sfdisk -J "$raw")
declare -A off size partuuid uuid
names=(esp boot root roothash var)
for i in 0 1 2 3 4; do
    n=${names[$i]}
    off[$n]=$(( $(jq ".partitiontable.partitions[$i].start" <<< "$table") * 512 ))
    size[$n]=$(( $(jq ".partitiontable.partitions[$i].size" <<< "$table") * 512 ))
    partuuid[$n]=$(jq -r ".partitiontable.partitions[$i].uuid" <<< "$table" | tr 'A-F' 'a-f')
    uuid[$n]=$(blkid --probe --offset "${off[$n]}" --size "${size[$n]}" -s UUID -o value "$raw" || true)
done
part() { dd if="$raw" of="$2" bs=1M iflag=skip_bytes,count_bytes skip="${off[$1]}" count="${size[$1]}" conv=sparse status=none; }
part root "$T_TMP/root.img"
part roothash "$T_TMP/hash.img"

grubcfg=$(fs_cat "$raw" "${off[boot]}" /grub/grub.cfg)
roothash=$(grep -o 'roothash=[0-9a-f]*' <<< "$grubcfg" | head -1 | cut -d= -f2)
check_eq "root hash in grub.cfg is sha256 hex" 64 "${#roothash}"
check "veritysetup verify: the hash partition matches grub.cfg's roothash" \
    veritysetup verify "$T_TMP/root.img" "$T_TMP/hash.img" "$roothash"
dump=$(veritysetup dump "$T_TMP/hash.img" | tr -s ' \t' ' ')
check_contains "sha256" "$dump" "sha256"
check_contains "4096-byte data blocks" "$dump" "Data block size: 4096"
check_contains "whole root partition hashed" "$dump" "Data blocks: $(( size[root] / 4096 ))"
args="rd.systemd.verity=1 roothash=$roothash systemd.verity_root_data=PARTUUID=${partuuid[root]} systemd.verity_root_hash=PARTLABEL=roothash systemd.verity_root_options=panic-on-corruption root=/dev/mapper/root"
linux=$(grep -E '^\s*linux\s' <<< "$grubcfg" | head -1)
check_contains "kernel arguments exact (ALIC's, in order)" "$linux" "$args"
check_not_contains "no root=PARTUUID left" "$linux" "root=PARTUUID"
check_eq "every kernel line has the roothash" "$(grep -cE '^\s*linux\s' <<< "$grubcfg")" "$(grep -cE "^\s*linux\s.*roothash=$roothash" <<< "$grubcfg")"
check_contains "extra kernel argument kept" "$linux" "console=ttyS0,115200n8"

fstab=$(fs_cat "$raw" "${off[root]}" /etc/fstab)
check "fstab: / from /dev/mapper/root, ro" grep -qE '^/dev/mapper/root\s+/\s+ext4\s+ro\s' <<< "$fstab"
check "fstab: /boot by PARTUUID" grep -qE "^PARTUUID=${partuuid[boot]}\s+/boot\s" <<< "$fstab"
check "fstab: /var by PARTUUID" grep -qE "^PARTUUID=${partuuid[var]}\s+/var\s" <<< "$fstab"
check "root: e2fsck -fn clean" e2fsck -fn "$T_TMP/root.img"
# ALIC: a later grub-mkconfig in the image must write root=/dev/mapper/root.
defaults=$(fs_cat "$raw" "${off[root]}" /etc/default/grub)
check_contains "/etc/default/grub: GRUB_DEVICE=/dev/mapper/root" "$defaults" "GRUB_DEVICE=/dev/mapper/root"
check_contains "/etc/default/grub: GRUB_DISABLE_LINUX_UUID=true" "$defaults" "GRUB_DISABLE_LINUX_UUID=true"
check_contains "dracut conf: systemd-veritysetup and dm-verity" \
    "$(fs_cat "$raw" "${off[root]}" /etc/dracut.conf.d/50-imgrecipe-verity.conf)" 'add_dracutmodules+=" systemd-veritysetup "'

initrd=$(debugfs -R 'ls -p /' "$raw?offset=${off[boot]}" 2>/dev/null | awk -F/ '/initrd.img-/ && !done { print $6; done = 1 }')
check "initramfs on /boot" test -n "$initrd"
fs_cat "$raw" "${off[boot]}" "/$initrd" > "$T_TMP/initrd.img"
# The initramfs as dracut writes it on Debian: one compressed cpio archive.
case $(head -c 4 "$T_TMP/initrd.img" | od -An -tx1 | tr -d ' ') in
    28b52ffd) decompress=(zstd -dc) ;;
    1f8b*) decompress=(gzip -dc) ;;
    fd377a58) decompress=(xz -dc) ;;
    *) decompress=(cat) ;;
esac
listing=$("${decompress[@]}" "$T_TMP/initrd.img" | cpio -it --quiet 2>/dev/null || true)
check_contains "initramfs: systemd-veritysetup" "$listing" "/systemd-veritysetup"
check_contains "initramfs: veritysetup generator" "$listing" "systemd-veritysetup-generator"
check_contains "initramfs: dm-verity driver" "$listing" "dm-verity.ko"

# One flipped byte of data: the tree no longer verifies.
printf '\x55' | dd of="$T_TMP/root.img" bs=1 seek=$((1024 * 1024 + 17)) conv=notrunc status=none
check "one flipped data byte fails veritysetup verify" bash -c "! veritysetup verify '$T_TMP/root.img' '$T_TMP/hash.img' '$roothash' 2>/dev/null"
rm -f "$T_TMP/root.img" "$T_TMP/hash.img" "$T_TMP/initrd.img" "$raw"

# Config errors, before anything is built.
sed '/- {id: boot,/d; /- deviceId: boot/,+2d' "$T_TMP/v.yaml" > "$T_TMP/noboot.yaml"
msg=$("$IMGRECIPE" build "$T_TMP/noboot.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b2" 2>&1 || true)
check_contains "no /boot partition: config error" "$msg" "verity needs a separate '/boot' partition"
sed '/^  packages:/,/^    - dracut/d' "$T_TMP/v.yaml" > "$T_TMP/nodracut.yaml"
msg=$("$IMGRECIPE" build "$T_TMP/nodracut.yaml" --image-file "$(base_image debian-base)" --build-dir "$T_TMP/b3" 2>&1 || true)
check_contains "no dracut: error naming the package" "$msg" "install the 'dracut' package"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
t_done
