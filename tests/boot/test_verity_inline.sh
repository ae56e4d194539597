#!/usr/bin/env bash
# Inline root verity, booted on Debian 12 (issue 10): the layout of
# tests/lib/verity_layout.sh with the hash tree after the filesystem in the
# root partition (dataDeviceId == hashDeviceId, ALIC's sizing) and
# cryptsetup-bin installed. systemd 252's systemd-veritysetup ignores ALIC's
# hash-offset= option, so imgrecipe's dracut module (90imgrecipe-inlineverity)
# opens the device with veritysetup --hash-offset, reading the kernel command
# line at boot. Offline: the kernel arguments are ALIC's, the module and its
# generator are in the image and the initramfs, and the initramfs's generator
# run on grub.cfg's command line writes the veritysetup drop-in. Booted: / on
# /dev/mapper/root, read-only, `veritysetup status root` verified,
# /proc/cmdline has ALIC's inline arguments. Then the check script's data
# bytes are flipped in the root partition: the kernel reports the verity
# corruption and the altered script never runs.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
base=$(base_image debian-dracut)

raw=$T_TMP/inline.raw
verity_layout_config "$T_TMP/v.yaml" "$raw" raw
# Inline: the root partition holds the data and, after it, the tree;
# veritysetup (cryptsetup-bin) opens it in the initramfs and reports it after boot.
sed -i '/- {id: roothash,/d; s/hashDeviceId: roothash/hashDeviceId: root/; s/hashDeviceMountIdType: part-label/hashDeviceMountIdType: part-uuid/' "$T_TMP/v.yaml"
sed -i 's/^    - dracut$/    - dracut\n    - cryptsetup-bin/' "$T_TMP/v.yaml"
"$IMGRECIPE" build "$T_TMP/v.yaml" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }

table=$(sfdisk -J "$raw")
off() { echo $(( $(jq ".partitiontable.partitions[$(($1 - 1))].start" <<< "$table") * 512 )); }
psize() { echo $(( $(jq ".partitiontable.partitions[$(($1 - 1))].size" <<< "$table") * 512 )); }
rootuuid=$(jq -r ".partitiontable.partitions[2].uuid" <<< "$table" | tr 'A-F' 'a-f')
grubcfg=$(fs_cat "$raw" "$(off 2)" /grub/grub.cfg)
roothash=$(grep -o 'roothash=[0-9a-f]*' <<< "$grubcfg" | head -1 | cut -d= -f2)
hash_offset=$(grep -o 'hash-offset=[0-9]*' <<< "$grubcfg" | head -1 | cut -d= -f2)
check "hash offset: a whole number of MiB inside the 2 GiB root (ALIC's sizing)" \
    test -n "$hash_offset" -a $(( ${hash_offset:-1} % 1048576 )) -eq 0 -a "${hash_offset:-0}" -lt $(( 2048 * 1048576 ))
args="rd.systemd.verity=1 roothash=$roothash systemd.verity_root_data=PARTUUID=$rootuuid systemd.verity_root_hash=PARTUUID=$rootuuid systemd.verity_root_options=panic-on-corruption,hash-offset=$hash_offset root=/dev/mapper/root"
check_contains "grub.cfg: ALIC's inline kernel arguments" "$(grep -E '^\s*linux\s' <<< "$grubcfg" | head -1)" "$args"
dd if="$raw" of="$T_TMP/root.img" bs=1M iflag=skip_bytes,count_bytes skip="$(off 3)" count="$(psize 3)" conv=sparse status=none
check "veritysetup verify: inline tree at the offset" veritysetup verify "$T_TMP/root.img" "$T_TMP/root.img" "$roothash" --hash-offset "$hash_offset"
rm -f "$T_TMP/root.img"

mod=/usr/lib/dracut/modules.d/90imgrecipe-inlineverity
for f in module-setup.sh imgrecipe-inline-verity-generator.sh; do
    check "module in the image: $f" bash -c "debugfs -R 'stat $mod/$f' '$raw?offset=$(off 3)' 2>&1 | grep -q 'Type: regular'"
done
check_contains "dracut config adds the module" \
    "$(fs_cat "$raw" "$(off 3)" /etc/dracut.conf.d/50-imgrecipe-verity.conf)" 'add_dracutmodules+=" systemd-veritysetup imgrecipe-inlineverity "'
initrd=$(debugfs -R 'ls -p /' "$raw?offset=$(off 2)" 2>/dev/null | awk -F/ '/initrd.img-/ && !done { print $6; done = 1 }')
fs_cat "$raw" "$(off 2)" "/$initrd" > "$T_TMP/initrd.img"
case $(head -c 4 "$T_TMP/initrd.img" | od -An -tx1 | tr -d ' ') in
    28b52ffd) decompress=(zstd -dc) ;;
    1f8b*) decompress=(gzip -dc) ;;
    fd377a58) decompress=(xz -dc) ;;
    *) decompress=(cat) ;;
esac
listing=$("${decompress[@]}" "$T_TMP/initrd.img" | cpio -it --quiet 2>/dev/null || true)
check_contains "initramfs: the generator" "$listing" "system-generators/imgrecipe-inline-verity-generator"
check_contains "initramfs: veritysetup" "$listing" "sbin/veritysetup"
check_contains "initramfs: systemd-veritysetup-generator" "$listing" "systemd-veritysetup-generator"
mkdir -p "$T_TMP/unpack"
(cd "$T_TMP/unpack" && "${decompress[@]}" "$T_TMP/initrd.img" | cpio -id --quiet '*imgrecipe-inline-verity-generator' 2>/dev/null) || true
gen=$(find "$T_TMP/unpack" -name imgrecipe-inline-verity-generator -type f | head -1)
grep -E '^\s*linux\s' <<< "$grubcfg" | head -1 | sed 's/^\s*linux\s*//' > "$T_TMP/cmdline"
if [[ -n $gen ]] && IMGRECIPE_PROC_CMDLINE=$T_TMP/cmdline sh "$gen" "$T_TMP/gen"; then
    dropin=$(cat "$T_TMP/gen/systemd-veritysetup@root.service.d/50-imgrecipe-inline-verity.conf" 2>/dev/null)
else
    dropin=
fi
check_contains "generator drop-in: veritysetup open with the offset and the corruption option" "$dropin" \
    "open \"/dev/disk/by-partuuid/$rootuuid\" root \"/dev/disk/by-partuuid/$rootuuid\" \"$roothash\" \"--panic-on-corruption\" \"--hash-offset=$hash_offset\""
rm -rf "$T_TMP/initrd.img" "$T_TMP/unpack" "$T_TMP/gen"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$raw" --format raw --timeout 400 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "inline verity image boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_contains "/ is /dev/mapper/root, ext4, read-only" "$(fact "mount /")" "/dev/mapper/root ext4 ro"
check_eq "writing to / is refused" "refused" "$(fact root-write)"
check_contains "veritysetup status root: verified" "$(fact verity)" "verified"
check_contains "/proc/cmdline: ALIC's inline arguments" "$(fact cmdline)" "$args"
check_contains "/var writable on vda4" "$(fact "mount /var")" "/dev/vda4 ext4 rw"

# Flip bytes in the data blocks of the check script inside the root partition.
root_off=$(off 3)
blocks=$(debugfs -R "blocks /usr/local/bin/imgrecipe-check" "$raw?offset=$root_off" 2>/dev/null | tr -s ' ' | sed 's/ *$//')
block=${blocks%% *}
check "debugfs finds the script's data block" test -n "$block"
# After "#!/bin/sh\nexec >/dev/ttyS0 2>&1\n" (32 bytes): the next line becomes an echo.
printf 'echo IRCHECK-ALTERED\n#' | dd of="$raw" bs=1 seek=$(( root_off + block * 4096 + 32 )) conv=notrunc status=none
log2=$T_TMP/serial2.log
"$TESTS_DIR/lib/boot-check.sh" --image "$raw" --format raw --timeout 400 \
    --marker "IRCHECK-DONE" --log "$log2" 2>/dev/null || true
serial=$(tr -d '\r' < "$log2")
check_contains "the kernel reports the verity corruption" "$serial" "is corrupted"
check_not_contains "the altered script did not run" "$serial" "IRCHECK-ALTERED"
check_not_contains "the check unit did not complete" "$serial" "IRCHECK-DONE"
rm -f "$raw"
t_done
