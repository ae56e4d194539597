#!/usr/bin/env bash
# Issue 10 §3 signing flow, booted with Secure Boot ON. The debian-base image
# gets Debian's signed boot chain on its ESP (shim-signed, grub-efi-amd64-signed,
# a postCustomization script: EFI/BOOT/BOOTX64.EFI = shim, signed by Microsoft
# only; EFI/BOOT/grubx64.efi = Debian's signed GRUB; EFI/debian/grub.cfg = the
# early config its built-in prefix reads) and is built with output.artifacts
# [shim]. The exported EFI/BOOT/bootx64.efi is signed with OVMF's snakeoil test
# key (/usr/share/ovmf/PkKek-1-snakeoil.{key,pem}, the only key in
# OVMF_VARS_4M.snakeoil.fd's db) and put back with `imgrecipe inject-files`
# (qcow2 output); `sbverify --cert` passes on the file read back from the
# output's ESP. Under `boot-check.sh --secure-boot snakeoil`:
#   - the output BEFORE injection is refused by the firmware ("Access Denied":
#     Microsoft's signature is not in the snakeoil db), a fast failure, not a
#     timeout;
#   - the injected output boots (firmware -> snakeoil-signed shim -> Debian-signed
#     GRUB and kernel, checked by shim against its built-in Debian key) and a unit
#     reports the SecureBoot EFI variable (1) and the kernel's "Secure boot
#     enabled" line.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
boot_check() { "$TESTS_DIR/lib/boot-check.sh" "$@"; }

SNAKEOIL_KEY=/usr/share/ovmf/PkKek-1-snakeoil.key
SNAKEOIL_CERT=/usr/share/ovmf/PkKek-1-snakeoil.pem
[[ -r $SNAKEOIL_KEY && -r $SNAKEOIL_CERT ]] || { t_fail "no snakeoil key (package ovmf)"; t_done; }

mkdir -p "$T_TMP/c"
cat > "$T_TMP/c/a.yaml" <<YAML
previewFeatures: [output-artifacts]
os:
  hostname: signed-host
  kernelCommandLine:
    extraCommandLine: [console=ttyS0,115200n8]
  packages:
    install: [shim-signed, grub-efi-amd64-signed]
  additionalFiles:
    - content: |
        #!/bin/sh
        # SecureBoot variable: 4 attribute bytes, then the value (1 = on).
        sb=none
        v=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
        [ -e "\$v" ] && sb=\$(od -An -tu1 "\$v" | awk '{ print \$NF }')
        kmsg=\$(dmesg | grep -c 'Secure boot enabled')
        echo "SBMARK secureboot=[\$sb] kmsg=[\$kmsg] SBEND" > /dev/ttyS0
      destination: /usr/local/bin/sb-marker
      permissions: "0755"
    - content: |
        [Unit]
        Description=imgrecipe Secure Boot test marker
        After=multi-user.target
        [Service]
        Type=oneshot
        ExecStart=/usr/local/bin/sb-marker
        [Install]
        WantedBy=multi-user.target
      destination: /etc/systemd/system/sb-marker.service
  services:
    enable: [sb-marker.service]
scripts:
  postCustomization:
    - name: Debian's signed chain on the ESP
      content: |
        set -e
        cp /usr/lib/shim/shimx64.efi.signed /boot/efi/EFI/BOOT/BOOTX64.EFI
        cp /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed /boot/efi/EFI/BOOT/grubx64.efi
        mkdir -p /boot/efi/EFI/debian
        printf '%s\n' 'search --no-floppy --fs-uuid --set=root $ROOT_UUID' 'set prefix=(\$root)/boot/grub' \\
            'configfile \$prefix/grub.cfg' > /boot/efi/EFI/debian/grub.cfg
output:
  image: {path: out.raw, format: raw}
  artifacts: {path: art, items: [shim]}
YAML
"$IMGRECIPE" build "$T_TMP/c/a.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
art=$T_TMP/c/art
# Signers by issuer. (`sbverify --cert ANY` passes on Microsoft-signed shim
# whatever the certificate, checked here: it proves nothing about which key
# signed it, so the issuers are read with --list.)
issuers() { sbverify --list "$1" 2> /dev/null | grep -A1 'image signature issuers' | grep -o '/O=[^/]*' | sort -u | tr '\n' ' '; }
check "the exported shim is shim" bash -c "strings '$art/shim/bootx64.efi' | grep -q 'UEFI SHIM'"
before=$(issuers "$art/shim/bootx64.efi")
check_contains "the exported shim is signed by Microsoft" "$before" "/O=Microsoft Corporation"
check_not_contains "... and not by the snakeoil key" "$before" "/O=SnakeOil"

# The snakeoil key is encrypted (passphrase "snakeoil"): a clear copy for sbsign.
openssl pkey -in "$SNAKEOIL_KEY" -passin pass:snakeoil -out "$T_TMP/db.key"
sbsign --key "$T_TMP/db.key" --cert "$SNAKEOIL_CERT" --output "$art/shim/bootx64.efi.signed" "$art/shim/bootx64.efi" 2> /dev/null
mv "$art/shim/bootx64.efi.signed" "$art/shim/bootx64.efi"
"$IMGRECIPE" inject-files --config-file "$art/inject-files.yaml" --image-file "$T_TMP/c/out.raw" \
    --output-image-file "$T_TMP/signed.qcow2" --output-image-format qcow2 --build-dir "$T_TMP/b" 2> "$T_TMP/inject.log" \
    || { tail -30 "$T_TMP/inject.log"; t_fail "inject-files"; t_done; }
qemu-img convert -O raw "$T_TMP/signed.qcow2" "$T_TMP/signed.raw"
fat_cat "$T_TMP/signed.raw" "$ESP_OFFSET" /EFI/BOOT/BOOTX64.EFI > "$T_TMP/boot.efi"
rm -f -- "$T_TMP/signed.raw"
check "sbverify --cert (snakeoil) passes on the image's EFI/BOOT/BOOTX64.EFI" sbverify --cert "$SNAKEOIL_CERT" "$T_TMP/boot.efi"
check_contains "the image's EFI/BOOT/BOOTX64.EFI carries the snakeoil signature" "$(issuers "$T_TMP/boot.efi")" "/O=SnakeOil"

# Before injection: the firmware must refuse the loader, and say so.
t0=$SECONDS
if boot_check --image "$T_TMP/c/out.raw" --secure-boot snakeoil --timeout 240 \
    --marker "signed-host login:" --log "$T_TMP/unsigned.log" 2> "$T_TMP/unsigned.err"; then
    t_fail "the output before injection is refused under Secure Boot (snakeoil db): it booted"
else
    took=$((SECONDS - t0))
    check_contains "the output before injection is refused by the firmware with \"Access Denied\" (${took}s)" \
        "$(cat "$T_TMP/unsigned.err")" 'found "Access Denied" in the serial log'
    check "... a fast failure, not a timeout (${took}s < 120s)" test "$took" -lt 120
fi

if boot_check --image "$T_TMP/signed.qcow2" --format qcow2 --secure-boot snakeoil --timeout 240 \
    --marker "signed-host login:" --marker "SBEND" --log "$T_TMP/serial.log"; then
    t_pass "the image with the snakeoil-signed shim boots with Secure Boot on"
    line=$(grep -a -o 'SBMARK .* SBEND' "$T_TMP/serial.log" | head -1)
    echo "$line"
    check_contains "the guest sees the SecureBoot EFI variable set" "$line" "secureboot=[1]"
    check_contains "the guest kernel says \"Secure boot enabled\"" "$line" "kmsg=[1]"
else
    t_fail "the image with the snakeoil-signed shim boots with Secure Boot on"
fi
t_done
