#!/usr/bin/env bash
# os.uki.mode: modify (issue 10, alic-reference §4.10): on an image that
# boots UKIs in ALIC's addon layout, only the addon
# (EFI/Linux/<kernel>.efi.extra.d/<kernel>.addon.efi) is rebuilt with the
# config's extra kernel argument appended to its old command line; the main
# UKI stays byte for byte. Checked offline. Also the errors: a UKI without
# its addon (named), UKIs without any addon (ALIC's "combined architecture"
# message), a kernel put into /boot by the build (ALIC's guard), and
# nothing leaked on success or failure.
#
# Debian 12's systemd 252 has no addon stub (addonx64.efi.stub, systemd 254)
# and its stub does not load addons, so this cannot be boot-tested on
# Debian 12. To get the addon layout at all, the first build copies the
# image's linuxx64.efi.stub to /usr/lib/systemd/boot/efi/addonx64.efi.stub
# (a postCustomization script): a PE file that gets a .cmdline section is
# all the offline checks need; it is not a real addon stub.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
base=$IMG_PATH
export MTOOLS_SKIP_CHECK=1
name=vmlinuz-$KERNEL_VERSION
uki_path=::/EFI/Linux/$name.efi
addon_path=::/EFI/Linux/$name.efi.extra.d/$name.addon.efi

# build CONFIG INPUT LOG: exit code of imgrecipe build.
build() {
    set +e
    "$IMGRECIPE" build "$1" --image-file "$2" --build-dir "$T_TMP/b" 2> "$3"
    local rc=$?
    set -e
    return $rc
}
# section FILE NAME: a PE section's bytes, NUL padding dropped.
section() { objcopy -O binary --only-section="$2" "$1" "$T_TMP/section" && tr -d '\0' < "$T_TMP/section"; }

# 1. A UKI image in ALIC's addon layout (mode create, with the stand-in addon stub).
ukis=$T_TMP/ukis.raw
cat > "$T_TMP/create.yaml" <<YAML
previewFeatures: [uki]
os:
  kernelCommandLine:
    extraCommandLine: [imgrecipe.create=1]
  packages:
    install: [systemd-boot-efi]
  uki:
    mode: create
scripts:
  postCustomization:
  - content: cp /usr/lib/systemd/boot/efi/linuxx64.efi.stub /usr/lib/systemd/boot/efi/addonx64.efi.stub
output:
  image:
    path: $ukis
    format: raw
YAML
rc=0
build "$T_TMP/create.yaml" "$base" "$T_TMP/create.log" || rc=$?
check_eq "create build with an addon stub succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/create.log"; t_done; }
mcopy -n -i "$ukis@@$ESP_OFFSET" "$uki_path" "$T_TMP/uki.before.efi"
mcopy -n -i "$ukis@@$ESP_OFFSET" "$addon_path" "$T_TMP/addon.before.efi"
check_eq "create: the main UKI has no .cmdline (it is in the addon)" 0 \
    "$(objdump -h "$T_TMP/uki.before.efi" | grep -c ' \.cmdline ' || true)"
old=$(section "$T_TMP/addon.before.efi" .cmdline)
check_contains "create: the addon holds the command line" "$old" "root=UUID=$ROOT_UUID ro console=ttyS0,115200n8 imgrecipe.create=1"

# 2. modify with one more kernel argument.
out=$T_TMP/modified.raw
cat > "$T_TMP/modify.yaml" <<YAML
previewFeatures: [uki]
os:
  kernelCommandLine:
    extraCommandLine: [imgrecipe.modify=1]
  uki:
    mode: modify
output:
  image:
    path: $out
    format: raw
YAML
rc=0
build "$T_TMP/modify.yaml" "$ukis" "$T_TMP/modify.log" || rc=$?
check_eq "modify build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/modify.log"; t_done; }
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check "uki step after the kernel check, before the output" awk '/\[kernel check\] start/ { k = NR } /\[uki\] start/ { u = NR } /\[write output\] start/ { w = NR } END { exit !(k && u && w && k < u && u < w) }' "$T_TMP/modify.log"
check_not_contains "no grub.cfg edit" "$(cat "$T_TMP/modify.log")" "[kernel command line]"
mcopy -n -i "$out@@$ESP_OFFSET" "$uki_path" "$T_TMP/uki.after.efi"
mcopy -n -i "$out@@$ESP_OFFSET" "$addon_path" "$T_TMP/addon.after.efi"
check_eq "the main UKI is byte for byte the base image's" "$(sha256sum < "$T_TMP/uki.before.efi")" \
    "$(sha256sum < "$T_TMP/uki.after.efi")"
check_eq "the addon's .cmdline is the old one and the new argument" "$old imgrecipe.modify=1" \
    "$(section "$T_TMP/addon.after.efi" .cmdline)"
check_eq "the addon has no kernel" 0 "$(objdump -h "$T_TMP/addon.after.efi" | grep -c ' \.linux ' || true)"
check_contains "built with the host's objcopy (no ukify in Debian 12)" "$(cat "$T_TMP/modify.log")" "(objcopy, /boot/efi/EFI/Linux/$name.efi unchanged)"
check_eq "EFI/Linux holds the same files" "$(mdir -b -/ -i "$ukis@@$ESP_OFFSET" ::/EFI/Linux | sort)" \
    "$(mdir -b -/ -i "$out@@$ESP_OFFSET" ::/EFI/Linux | sort)"
mcopy -n -i "$ukis@@$ESP_OFFSET" "$addon_path" "$T_TMP/addon.input.efi"
check "the input is not modified" cmp "$T_TMP/addon.before.efi" "$T_TMP/addon.input.efi"
check "root filesystem clean" e2fsck -fn "$out?offset=$ROOT_OFFSET"

# As COSI (imgrecipe convert), with a second addon put next to the rebuilt
# one: the uki-standalone entry's command line is the main UKI's (none)
# and the addons' in name order, as systemd-boot assembles it.
two=$T_TMP/two.raw
cp --sparse=always "$out" "$two"
mcopy -i "$two@@$ESP_OFFSET" "$T_TMP/addon.before.efi" "::/EFI/Linux/$name.efi.extra.d/aa.addon.efi"
set +e
"$IMGRECIPE" convert --build-dir "$T_TMP/b" --image-file "$two" --output-image-file "$T_TMP/two.cosi" \
    --output-image-format cosi > "$T_TMP/cosi.log" 2>&1
rc=$?
set -e
check_eq "convert to COSI succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -5 "$T_TMP/cosi.log"
mkdir -p "$T_TMP/cx"
python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$T_TMP/two.cosi" "$T_TMP/cx" > "$T_TMP/cosi.txt" || true
check_eq "COSI: uki-standalone, the addons' command lines in name order" \
    "meta bootloader={\"type\": \"systemd-boot\", \"systemdBoot\": {\"entries\": [{\"type\": \"uki-standalone\", \"path\": \"/boot/efi/EFI/Linux/$name.efi\", \"cmdline\": \"$old $old imgrecipe.modify=1\", \"kernel\": \"$KERNEL_VERSION\"}]}}" \
    "$(grep '^meta bootloader=' "$T_TMP/cosi.txt")"
rm -rf "$T_TMP/cx" "$T_TMP/two.cosi" "$two"

# 3. Errors, on copies of the UKI image (ESP edited with mtools).
# A UKI without its addon next to one with: named.
bad=$T_TMP/bad.raw
cp --sparse=always "$ukis" "$bad"
mcopy -i "$bad@@$ESP_OFFSET" "$T_TMP/addon.before.efi" ::/EFI/Linux/vmlinuz-0.0.efi
sed "s|path: $out|path: $T_TMP/e.raw|" "$T_TMP/modify.yaml" > "$T_TMP/e.yaml"
rc=0
build "$T_TMP/e.yaml" "$bad" "$T_TMP/e1.log" || rc=$?
check_eq "UKI without addon: usage error" 2 "$rc"
check_contains "the UKI without addon is named" "$(cat "$T_TMP/e1.log")" \
    "the UKI /boot/efi/EFI/Linux/vmlinuz-0.0.efi has no addon: expected /boot/efi/EFI/Linux/vmlinuz-0.0.efi.extra.d/vmlinuz-0.0.addon.efi"
check "refused before the customization" bash -c "! grep -q '\[release file\]' '$T_TMP/e1.log'"
check "no output left" test ! -e "$T_TMP/e.raw"
# No addon at all: ALIC's message.
mdel -i "$bad@@$ESP_OFFSET" ::/EFI/Linux/vmlinuz-0.0.efi
mdeltree -i "$bad@@$ESP_OFFSET" "::/EFI/Linux/$name.efi.extra.d"
rc=0
build "$T_TMP/e.yaml" "$bad" "$T_TMP/e2.log" || rc=$?
check_eq "UKIs without addons: usage error" 2 "$rc"
check_contains "ALIC's combined-architecture error" "$(cat "$T_TMP/e2.log")" \
    "base image has UKI without addons (combined architecture) but os.uki.mode is set to 'modify'"
# A kernel put into /boot by the build: ALIC's guard (before the boot loader step).
cat > "$T_TMP/e3.yaml" <<YAML
previewFeatures: [uki]
os:
  uki:
    mode: modify
  additionalFiles:
  - destination: /boot/vmlinuz-9.9-test
    content: not a kernel
output:
  image:
    path: $T_TMP/e.raw
    format: raw
YAML
rc=0
build "$T_TMP/e3.yaml" "$ukis" "$T_TMP/e3.log" || rc=$?
check_eq "kernel in /boot: usage error" 2 "$rc"
check_contains "ALIC's guard names the file" "$(cat "$T_TMP/e3.log")" \
    "kernel binaries detected in /boot (vmlinuz-9.9-test): os.uki.mode 'modify' keeps the kernel"
check "no output left" test ! -e "$T_TMP/e.raw"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
t_done
