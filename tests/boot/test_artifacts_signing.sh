#!/usr/bin/env bash
# Issue 10 §3 signing flow, booted: the debian-base image built with
# output.artifacts [shim], the exported EFI/BOOT/bootx64.efi signed with a
# test key made here (sbsign), put back with `imgrecipe inject-files`
# (qcow2 output), `sbverify --cert` passing on the file read back from the
# output's ESP, and the output booting to its login prompt (Secure Boot off:
# the test key is not enrolled in OVMF's db).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

mkdir -p "$T_TMP/c"
cat > "$T_TMP/c/a.yaml" <<YAML
previewFeatures: [output-artifacts]
os:
  hostname: signed-host
  kernelCommandLine:
    extraCommandLine: [console=ttyS0,115200n8]
output:
  image: {path: out.raw, format: raw}
  artifacts: {path: art, items: [shim]}
YAML
"$IMGRECIPE" build "$T_TMP/c/a.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
art=$T_TMP/c/art
openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=imgrecipe test signing key/" \
    -keyout "$T_TMP/db.key" -out "$T_TMP/db.crt" 2> /dev/null
sbsign --key "$T_TMP/db.key" --cert "$T_TMP/db.crt" --output "$art/shim/bootx64.efi.signed" "$art/shim/bootx64.efi" 2> /dev/null
mv "$art/shim/bootx64.efi.signed" "$art/shim/bootx64.efi"
"$IMGRECIPE" inject-files --config-file "$art/inject-files.yaml" --image-file "$T_TMP/c/out.raw" \
    --output-image-file "$T_TMP/signed.qcow2" --output-image-format qcow2 --build-dir "$T_TMP/b" 2> "$T_TMP/inject.log" \
    || { tail -30 "$T_TMP/inject.log"; t_fail "inject-files"; t_done; }
qemu-img convert -O raw "$T_TMP/signed.qcow2" "$T_TMP/signed.raw"
fat_cat "$T_TMP/signed.raw" "$ESP_OFFSET" /EFI/BOOT/BOOTX64.EFI > "$T_TMP/boot.efi"
rm -f -- "$T_TMP/signed.raw"
check "sbverify --cert passes on the image's EFI/BOOT/BOOTX64.EFI" sbverify --cert "$T_TMP/db.crt" "$T_TMP/boot.efi"
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/signed.qcow2" --format qcow2 --timeout 240 \
    --marker "signed-host login:" --log "$T_TMP/serial.log"; then
    t_pass "the image with the signed loader boots"
else
    t_fail "boot"
fi
t_done
