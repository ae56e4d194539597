#!/usr/bin/env bash
# storage.verity[].hashSignaturePath, booted (issue 10): the verity layout of
# tests/lib/verity_layout.sh with a root hash signature at /boot/root.hash.sig,
# shim-signed and grub-efi-amd64-signed on the ESP (a postCustomization script
# lays them out as EFI/BOOT/BOOTX64.EFI + grubx64.efi), dmsetup and keyutils.
# The verity-hash artifact is signed here (PKCS#7, openssl smime) with a test
# key and put back with inject-files. The key is trusted the way a real
# machine trusts it (mokutil --import; shim's MokListTrusted default, i.e.
# what mokutil --trust-mok leaves): tests/lib/ovmf_add_mok.py enrolls it in a
# copy of OVMF's Microsoft-keys variable store; with Secure Boot on, shim
# publishes it in its MOK table and the kernel (CONFIG_INTEGRITY_MACHINE_KEYRING,
# CONFIG_DM_VERITY_VERIFY_ROOTHASH_SIG_SECONDARY_KEYRING) loads it into .machine,
# linked into .secondary_trusted_keys, which dm-verity checks the signature
# against. Boot 1: / is /dev/mapper/root opened with the signature (the
# dm table names root_hash_sig_key_desc), the key is in .machine, /boot
# mounts read-write in the real system (imgrecipe-mountboot unmounts its
# read-only initramfs mount). Boot 2: the same image with a signature by
# another key: the kernel refuses the root (-ENOKEY).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
base=$(base_image debian-dracut)

cfg=$T_TMP/v.yaml
verity_layout_config "$cfg" "$T_TMP/v.raw" raw
python3 - "$cfg" "$T_TMP/artifacts" <<'PY'
import sys
p, art = sys.argv[1], sys.argv[2]
s = open(p).read()
def sub(old, new):
    global s
    assert old in s, old
    s = s.replace(old, new)
sub("    corruptionOption: panic\n", "    corruptionOption: panic\n    hashSignaturePath: /boot/root.hash.sig\n")
sub("    install:\n    - dracut\n",
    "    install:\n    - dracut\n    - dmsetup\n    - keyutils\n    - shim-signed\n    - grub-efi-amd64-signed\n")
sub("      echo IRCHECK-DONE\n", """      echo "IRCHECK table=$(dmsetup table root 2>&1 | tr '\\n' ';')"
      echo "IRCHECK secureboot=$(od -An -tu1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c 2>&1 | tr -s ' ')"
      echo "IRCHECK machine=$(keyctl show %:.machine 2>&1 | tr '\\n' ';')"
      echo "IRCHECK secondary=$(keyctl show %:.secondary_trusted_keys 2>&1 | tr '\\n' ';')"
      echo IRCHECK-DONE
""")
# The signed GRUB's built-in prefix is /EFI/debian; $cmdpath/grub.cfg is its fallback.
sub("output:\n  image:", """scripts:
  postCustomization:
  - content: |
      set -e
      efi=/boot/efi/EFI
      mkdir -p $efi/BOOT $efi/debian
      cp /usr/lib/shim/shimx64.efi.signed $efi/BOOT/BOOTX64.EFI
      cp /usr/lib/shim/mmx64.efi.signed $efi/BOOT/mmx64.efi
      cp /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed $efi/BOOT/grubx64.efi
      printf 'search --no-floppy --file --set=root /grub/grub.cfg\\nset prefix=($root)/grub\\nconfigfile $prefix/grub.cfg\\n' > $efi/debian/grub.cfg
      cp $efi/debian/grub.cfg $efi/BOOT/grub.cfg
output:
  artifacts:
    path: %s
    items: [verity-hash]
  image:""" % art)
s += "previewFeatures: [output-artifacts]\n"
open(p, "w").write(s)
PY
"$IMGRECIPE" build "$cfg" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
art=$T_TMP/artifacts
roothash=$(cat "$art/verity-hash/root.hash.sig")
check "verity-hash artifact is a root hash" grep -qE '^[0-9a-f]{64}$' "$art/verity-hash/root.hash.sig"

# Keys: the trusted one (a CA, enrolled as a MOK) and another one.
for k in trusted other; do
    openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=imgrecipe verity $k key/" \
        -addext "keyUsage=digitalSignature,keyCertSign" -keyout "$T_TMP/$k.key" -out "$T_TMP/$k.crt" 2> /dev/null
done
openssl x509 -in "$T_TMP/trusted.crt" -outform der -out "$T_TMP/trusted.der"
vars=$T_TMP/OVMF_VARS.mok.fd
python3 "$TESTS_DIR/lib/ovmf_add_mok.py" /usr/share/OVMF/OVMF_VARS_4M.ms.fd "$vars" "$T_TMP/trusted.der"

# signed_image KEY OUT: the image with the root hash signed by KEY at /boot/root.hash.sig.
signed_image() {
    printf '%s' "$roothash" > "$T_TMP/roothash"
    openssl smime -sign -nocerts -noattr -binary -in "$T_TMP/roothash" -inkey "$T_TMP/$1.key" \
        -signer "$T_TMP/$1.crt" -outform der -out "$art/verity-hash/root.hash.sig"
    "$IMGRECIPE" inject-files --config-file "$art/inject-files.yaml" --image-file "$T_TMP/v.raw" \
        --output-image-file "$2" --build-dir "$T_TMP/inject" 2> "$T_TMP/inject.log" \
        || { tail -20 "$T_TMP/inject.log"; return 1; }
}
boot() {
    OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd OVMF_VARS=$vars \
        "$TESTS_DIR/lib/boot-check.sh" --image "$1" --timeout 300 --marker "$2" --log "$3"
}

check "image signed by the enrolled key" signed_image trusted "$T_TMP/signed.raw"
log=$T_TMP/serial.log
if boot "$T_TMP/signed.raw" IRCHECK-DONE "$log"; then
    t_pass "signed verity root boots with Secure Boot and the check unit ran"
else
    t_fail "boot with the trusted signature"
fi
rm -f -- "$T_TMP/signed.raw"
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_eq "Secure Boot is on" " 6 0 0 0 1" "$(fact secureboot)"
check_contains "/ is /dev/mapper/root, read-only" "$(fact "mount /")" "/dev/mapper/root ext4 ro"
check_eq "writing to / is refused" "refused" "$(fact root-write)"
check_contains "dm table: the root hash" "$(fact table)" " verity 1 "
check_contains "dm table: opened with the root hash signature" "$(fact table)" "root_hash_sig_key_desc"
check_contains "kernel args: root-hash-signature=/boot/root.hash.sig" "$(fact cmdline)" "root-hash-signature=/boot/root.hash.sig"
check_contains "the enrolled key is in .machine" "$(fact machine)" "asymmetric: imgrecipe verity trusted key"
check_contains ".machine is linked into .secondary_trusted_keys" "$(fact secondary)" "keyring: .machine"
check_contains "/boot mounts read-write after the initramfs' read-only mount" "$(fact "mount /boot")" "/dev/vda2 ext4 rw"

# A signature by a key the kernel does not trust: dm-verity refuses the table.
check "image signed by another key" signed_image other "$T_TMP/wrong.raw"
if boot "$T_TMP/wrong.raw" "verity: Root hash verification failed (-ENOKEY)" "$T_TMP/wrong.log"; then
    t_pass "another key's signature: the kernel refuses the root (-ENOKEY)"
else
    t_fail "boot with the untrusted signature did not report the refusal"
fi
rm -f -- "$T_TMP/wrong.raw"
t_done
