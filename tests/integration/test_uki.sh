#!/usr/bin/env bash
# os.uki (issue 10 §2, alic-reference §4.10): the debian-base image with
# systemd-boot-efi installed by the config gets a UKI per kernel at ALIC's
# place (ESP EFI/Linux/vmlinuz-<version>.efi), read back offline: the PE
# sections are there (objdump -h) in ukify's order and alignment, .cmdline
# is exactly grub.cfg's kernel arguments (with the config's extra argument),
# .linux and .initrd are the image's kernel and initrd byte for byte,
# .osrel is /etc/os-release, systemd-boot is the ESP's fallback loader with
# loader.conf, /boot is emptied, nothing leaked. Also the errors: an image
# without the stub names the packages; passthrough and modify without UKIs;
# os.uki without the preview feature.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/uki_config.sh"
image_env debian-base
base=$IMG_PATH

raw=$T_TMP/uki.raw
uki_config "$T_TMP/u.yaml" "$raw" raw
set +e
"$IMGRECIPE" build "$T_TMP/u.yaml" --image-file "$base" --build-dir "$T_TMP/b" 2> "$T_TMP/build.log"
rc=$?
set -e
check_eq "build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/build.log"; t_done; }
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check "uki step after the kernel check, before the output" awk '/\[kernel check\] start/ { k = NR } /\[uki\] start/ { u = NR } /\[write output\] start/ { w = NR } END { exit !(k && u && w && k < u && u < w) }' "$T_TMP/build.log"

esp="$raw@@$ESP_OFFSET"
rootfs="$raw?offset=$ROOT_OFFSET"
name=vmlinuz-$KERNEL_VERSION
check_contains "EFI/Linux holds the UKI" "$(mdir -b -i "$esp" ::/EFI/Linux 2>&1)" "$name.efi"
mcopy -n -i "$esp" "::/EFI/Linux/$name.efi" "$T_TMP/uki.efi"
mcopy -n -i "$esp" ::/EFI/BOOT/BOOTX64.EFI "$T_TMP/bootx64.efi"
mcopy -n -i "$esp" "::/EFI/systemd/systemd-bootx64.efi" "$T_TMP/sdboot.efi"
check_eq "loader.conf" "$(printf 'timeout 0\neditor no')" "$(mtype -i "$esp" ::/loader/loader.conf)"

sections=$(objdump -h "$T_TMP/uki.efi" | awk '$1 ~ /^[0-9]+$/ { print $2 }' | tr '\n' ' ')
check_contains "sections in ukify's order, .linux last" "$sections" ".osrel .cmdline .uname .initrd .linux "
# Each added section on a 4096-byte boundary, after the stub's.
aligned=0
while read -r _ vma; do (( 16#$vma % 4096 == 0 )) && aligned=$((aligned + 1)); done \
    < <(objdump -h "$T_TMP/uki.efi" | awk '$2 ~ /^\.(osrel|cmdline|uname|initrd|linux)$/ { print $2, $4 }')
check_eq "the 5 added sections are 4 KiB aligned" 5 "$aligned"
for s in cmdline osrel uname linux initrd; do objcopy -O binary --only-section=".$s" "$T_TMP/uki.efi" "$T_TMP/s.$s"; done
check_eq ".cmdline is grub.cfg's arguments and the extra one" \
    "root=UUID=$ROOT_UUID ro console=ttyS0,115200n8 imgrecipe.uki=1" "$(cat "$T_TMP/s.cmdline")"
# imgrecipe.uki.inspect reads the same sections back (ukify inspect's view).
cat > "$T_TMP/inspect.lua" <<'LUA'
return { name = "inspect", params = { file = { required = true } }, run = function(ctx)
  local s = require("imgrecipe.uki").inspect(ctx.params.file)
  io.stderr:write("INSPECT cmdline=" .. s[".cmdline"].text .. "\n")
  io.stderr:write("INSPECT linux=" .. s[".linux"].size .. " uname=" .. s[".uname"].text .. "\n")
end }
LUA
"$IMGRECIPE" run "$T_TMP/inspect.lua" --param file="$T_TMP/uki.efi" --build-dir "$T_TMP/b" 2> "$T_TMP/inspect.log" || cat "$T_TMP/inspect.log"
check_eq "uki.inspect: .cmdline" "INSPECT cmdline=$(cat "$T_TMP/s.cmdline")" "$(grep -a '^INSPECT cmdline=' "$T_TMP/inspect.log")"
check_eq "uki.inspect: .linux size and .uname" "INSPECT linux=$(stat -c %s "$T_TMP/s.linux") uname=$KERNEL_VERSION" \
    "$(grep -a '^INSPECT linux=' "$T_TMP/inspect.log")"
check_eq ".uname is the kernel version" "$KERNEL_VERSION" "$(cat "$T_TMP/s.uname")"
debugfs -R "dump /usr/lib/os-release $T_TMP/os-release" "$rootfs" 2>/dev/null
check "osrel is the image's os-release" cmp "$T_TMP/s.osrel" "$T_TMP/os-release"
debugfs -R "dump /boot/vmlinuz-$KERNEL_VERSION $T_TMP/vmlinuz" "$base?offset=$ROOT_OFFSET" 2>/dev/null
check ".linux is the kernel" cmp "$T_TMP/s.linux" "$T_TMP/vmlinuz"
check ".initrd is not empty" test -s "$T_TMP/s.initrd"
debugfs -R "dump /usr/lib/systemd/boot/efi/systemd-bootx64.efi $T_TMP/sd.efi" "$rootfs" 2>/dev/null
check "BOOTX64.EFI is systemd-boot" cmp "$T_TMP/bootx64.efi" "$T_TMP/sd.efi"
check "EFI/systemd/systemd-bootx64.efi" cmp "$T_TMP/sdboot.efi" "$T_TMP/sd.efi"
check_eq "/boot emptied but for the ESP mount point" "efi" \
    "$(debugfs -R 'ls -p /boot' "$rootfs" 2>/dev/null | awk -F/ '$6 != "" && $6 != "." && $6 != ".." { print $6 }' | sort | tr '\n' ' ' | sed 's/ $//')"
check "root filesystem clean" e2fsck -fn "$rootfs"

# The UKI image as COSI (imgrecipe convert): systemd-boot (on the ESP, though
# GRUB's packages are still installed) with ALIC's uki-standalone entry, its
# command line the UKI's .cmdline.
set +e
"$IMGRECIPE" convert --build-dir "$T_TMP/b" --image-file "$raw" --output-image-file "$T_TMP/u.cosi" \
    --output-image-format cosi > "$T_TMP/cosi.log" 2>&1
rc=$?
set -e
check_eq "convert to COSI succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -5 "$T_TMP/cosi.log"
mkdir -p "$T_TMP/cx"
python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$T_TMP/u.cosi" "$T_TMP/cx" > "$T_TMP/cosi.txt" || true
check_eq "COSI bootloader: systemd-boot, the UKI as uki-standalone" \
    "meta bootloader={\"type\": \"systemd-boot\", \"systemdBoot\": {\"entries\": [{\"type\": \"uki-standalone\", \"path\": \"/boot/efi/EFI/Linux/$name.efi\", \"cmdline\": \"$(cat "$T_TMP/s.cmdline")\", \"kernel\": \"$KERNEL_VERSION\"}]}}" \
    "$(grep '^meta bootloader=' "$T_TMP/cosi.txt")"
rm -rf "$T_TMP/cx" "$T_TMP/u.cosi"

# An image without the EFI stub: the error names the packages.
image_env tiny
cat > "$T_TMP/t.yaml" <<YAML
previewFeatures: [uki]
os:
  uki:
    mode: create
YAML
set +e
"$IMGRECIPE" build "$T_TMP/t.yaml" --image-file "$IMG_PATH" --output-image-file "$T_TMP/t.raw" \
    --output-image-format raw --build-dir "$T_TMP/b" 2> "$T_TMP/tiny.log"
rc=$?
set -e
check_eq "tiny image without the stub fails (usage error)" 2 "$rc"
check_contains "error names the stub" "$(cat "$T_TMP/tiny.log")" "no systemd EFI stub (/usr/lib/systemd/boot/efi/linuxx64.efi.stub)"
check_contains "error names the Debian package" "$(cat "$T_TMP/tiny.log")" "'systemd-boot-efi'"
check "no output left" test ! -e "$T_TMP/t.raw"

# passthrough on an image without UKIs: ALIC's error.
sed -i 's/mode: create/mode: passthrough/' "$T_TMP/t.yaml"
set +e
"$IMGRECIPE" build "$T_TMP/t.yaml" --image-file "$IMG_PATH" --output-image-file "$T_TMP/t.raw" \
    --output-image-format raw --build-dir "$T_TMP/b" 2> "$T_TMP/pt.log"
set -e
check_contains "passthrough without UKIs" "$(cat "$T_TMP/pt.log")" "cannot passthrough UKIs when base image has no UKIs"

# modify on an image without UKIs: ALIC's error (modify itself: test_uki_modify.sh).
# UKI images cannot become an ISO (ALIC).
sed -i 's/mode: passthrough/mode: modify/' "$T_TMP/t.yaml"
set +e
"$IMGRECIPE" build "$T_TMP/t.yaml" --image-file "$IMG_PATH" --output-image-file "$T_TMP/t.raw" \
    --output-image-format raw --build-dir "$T_TMP/b" 2> "$T_TMP/mod.log"
rc=$?
set -e
check_eq "modify without UKIs fails (usage error)" 2 "$rc"
check_contains "modify without UKIs" "$(cat "$T_TMP/mod.log")" "cannot modify UKIs when base image has no UKIs"
check "no output left" test ! -e "$T_TMP/t.raw"
sed -i 's/mode: modify/mode: create/' "$T_TMP/t.yaml"
set +e
"$IMGRECIPE" build "$T_TMP/t.yaml" --image-file "$IMG_PATH" --output-image-file "$T_TMP/t.iso" \
    --output-image-format iso --build-dir "$T_TMP/b" 2> "$T_TMP/iso.log"
set -e
check_contains "no ISO from a UKI image" "$(cat "$T_TMP/iso.log")" "os.uki: the iso output cannot be made from an image with UKIs"

# Without the preview feature.
printf 'os:\n  uki:\n    mode: create\n' > "$T_TMP/n.yaml"
set +e
"$IMGRECIPE" validate "$T_TMP/n.yaml" > "$T_TMP/n.log" 2>&1
set -e
check_contains "preview feature required" "$(cat "$T_TMP/n.log")" "the 'uki' preview feature must be enabled to use 'os.uki'"
check_eq "no loop device left" 0 "$(all_loops)"
t_done
