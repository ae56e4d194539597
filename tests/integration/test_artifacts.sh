#!/usr/bin/env bash
# output.artifacts and inject-files (issue 10 §2, §3 "signing flow";
# alic-reference §1.5, §2.7, §2.10): the debian-base image built with
# output.artifacts [shim] exports its ESP's EFI/BOOT/bootx64.efi and writes
# inject-files.yaml exactly as ALIC does; the file is signed with a test key
# made here (sbsign), put back with `imgrecipe inject-files` into a new
# output (the input untouched), and `sbverify --cert` passes on the file read
# back from the output's ESP (and fails on the unsigned one). A Lua recipe
# exports UKIs with addons and verity root hashes. Config and usage errors.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
esp_partuuid=$(tr 'A-F' 'a-f' <<< "$ESP_PARTUUID")
root_partuuid=$(tr 'A-F' 'a-f' <<< "$ROOT_PARTUUID")

# ---- export through YAML ----
mkdir -p "$T_TMP/c"
cat > "$T_TMP/c/a.yaml" <<YAML
previewFeatures: [output-artifacts]
os:
  hostname: signed-host
output:
  image: {path: out.raw, format: raw}
  artifacts: {path: art, items: [shim]}
YAML
set +e
"$IMGRECIPE" build "$T_TMP/c/a.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2> "$T_TMP/build.log"
rc=$?
set -e
check_eq "build with output.artifacts succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/build.log"; t_done; exit 1; }
art=$T_TMP/c/art
check_eq "artifacts directory: inject-files.yaml and shim/" "inject-files.yaml shim shim/bootx64.efi" \
    "$(cd "$art" && find . -mindepth 1 | sed 's|^\./||' | sort | tr '\n' ' ' | sed 's/ $//')"
fat_cat "$T_TMP/c/out.raw" "$ESP_OFFSET" /EFI/BOOT/BOOTX64.EFI > "$T_TMP/esp-boot.efi"
check "shim/bootx64.efi is the ESP's EFI/BOOT/BOOTX64.EFI" cmp "$art/shim/bootx64.efi" "$T_TMP/esp-boot.efi"
expected="injectFiles:
    - partition:
        idType: part-uuid
        id: $esp_partuuid
      destination: /EFI/BOOT/bootx64.efi
      source: ./shim/bootx64.efi
      type: shim
previewFeatures:
    - inject-files"
check_eq "inject-files.yaml exactly as ALIC writes it" "$expected" "$(cat "$art/inject-files.yaml")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"

set +e
"$IMGRECIPE" build "$T_TMP/c/a.yaml" --image-file "$IMG_PATH" --output-image-file "$T_TMP/c/again.raw" \
    --build-dir "$T_TMP/b" > /dev/null 2> "$T_TMP/err.log"
rc=$?
set -e
check "an artifacts directory that is not empty is refused" test "$rc" -eq 2
check_contains "before the build, naming it" "$(cat "$T_TMP/err.log")" "output directory $art exists and is not empty"
check "no output" test ! -e "$T_TMP/c/again.raw"

# ---- sign with a test key, inject, verify ----
openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=imgrecipe test signing key/" \
    -keyout "$T_TMP/db.key" -out "$T_TMP/db.crt" 2> /dev/null
check "the unsigned loader does not verify (the check can fail)" \
    bash -c "! sbverify --cert '$T_TMP/db.crt' '$art/shim/bootx64.efi' > /dev/null 2>&1"
sbsign --key "$T_TMP/db.key" --cert "$T_TMP/db.crt" --output "$art/shim/bootx64.efi.signed" "$art/shim/bootx64.efi" 2> /dev/null
mv "$art/shim/bootx64.efi.signed" "$art/shim/bootx64.efi"
in_sum=$(sha256sum < "$T_TMP/c/out.raw")
set +e
(cd / && "$IMGRECIPE" inject-files --config-file "$art/inject-files.yaml" --image-file "$T_TMP/c/out.raw" \
    --output-image-file "$T_TMP/signed.qcow2" --output-image-format qcow2 --build-dir "$T_TMP/b") 2> "$T_TMP/inject.log"
rc=$?
set -e
check_eq "inject-files succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -20 "$T_TMP/inject.log"
check_eq "input image untouched" "$in_sum" "$(sha256sum < "$T_TMP/c/out.raw")"
check_eq "output is qcow2" "qcow2" "$(qemu-img info --output=json "$T_TMP/signed.qcow2" | jq -r .format)"
to_raw "$T_TMP/signed.qcow2" "$T_TMP/signed.raw"
fat_cat "$T_TMP/signed.raw" "$ESP_OFFSET" /EFI/BOOT/BOOTX64.EFI > "$T_TMP/signed-boot.efi"
check "sbverify --cert passes on the output's EFI/BOOT/BOOTX64.EFI" \
    sbverify --cert "$T_TMP/db.crt" "$T_TMP/signed-boot.efi"
check "the output's loader is the signed file" cmp "$art/shim/bootx64.efi" "$T_TMP/signed-boot.efi"
check_eq "one boot loader file on the ESP (FAT name matched without case)" 1 \
    "$(MTOOLS_SKIP_CHECK=1 mdir -b -i "$T_TMP/signed.raw@@$ESP_OFFSET" ::/EFI/BOOT | grep -ci 'bootx64')"
dd if="$T_TMP/signed.raw" of="$T_TMP/esp.img" bs=1M iflag=skip_bytes,count_bytes skip="$ESP_OFFSET" count="$ESP_SIZE" status=none
check "ESP clean (fsck.fat -n)" fsck.fat -n "$T_TMP/esp.img"
rm -f -- "$T_TMP/esp.img"
check_eq "root unchanged by the injection" "signed-host" "$(fs_cat "$T_TMP/signed.raw" "$ROOT_OFFSET" /etc/hostname)"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "build directory empty" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"
rm -f -- "$T_TMP/signed.raw"

# Without a format the input's is kept (raw).
check "default output format: the input's" "$IMGRECIPE" inject-files --config-file "$art/inject-files.yaml" \
    --image-file "$T_TMP/c/out.raw" --output-image-file "$T_TMP/signed2.img" --build-dir "$T_TMP/b"
check_eq "raw output" "raw" "$(qemu-img info --output=json "$T_TMP/signed2.img" | jq -r .format)"
fat_cat "$T_TMP/signed2.img" "$ESP_OFFSET" /EFI/BOOT/BOOTX64.EFI > "$T_TMP/signed2-boot.efi"
check "raw output verifies too" sbverify --cert "$T_TMP/db.crt" "$T_TMP/signed2-boot.efi"
rm -f -- "$T_TMP/signed2.img"

# COSI output (as imgrecipe convert writes it), read by the independent reader.
check "cosi output" "$IMGRECIPE" inject-files --config-file "$art/inject-files.yaml" --image-file "$T_TMP/c/out.raw" \
    --output-image-file "$T_TMP/signed.cosi" --output-image-format cosi --cosi-compression-level 1 --build-dir "$T_TMP/b"
mkdir -p "$T_TMP/x"
check "COSI reader finds nothing wrong" python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$T_TMP/signed.cosi" "$T_TMP/x" \
    > "$T_TMP/read.txt"
MTOOLS_SKIP_CHECK=1 mtype -i "$T_TMP/x/p1.raw" ::/EFI/BOOT/BOOTX64.EFI > "$T_TMP/cosi-boot.efi"
check "the COSI's ESP image holds the signed loader" sbverify --cert "$T_TMP/db.crt" "$T_TMP/cosi-boot.efi"
rm -rf -- "$T_TMP/x" "$T_TMP/signed.cosi"

# ---- inject-files errors ----
inject_err() {  # NAME CONFIG EXPECTED [extra args]
    local name=$1 cfg=$2 want=$3
    shift 3
    set +e
    "$IMGRECIPE" inject-files --config-file "$cfg" --image-file "$T_TMP/c/out.raw" \
        --output-image-file "$T_TMP/bad.raw" --build-dir "$T_TMP/b" "$@" > /dev/null 2> "$T_TMP/err.log"
    local rc=$?
    set -e
    check "$name: fails" test "$rc" -ne 0
    check_contains "$name: message" "$(cat "$T_TMP/err.log")" "$want"
    check "$name: no output" test ! -e "$T_TMP/bad.raw"
}
sed '/previewFeatures/,$d' "$art/inject-files.yaml" > "$art/no-preview.yaml"
inject_err "no inject-files preview feature" "$art/no-preview.yaml" \
    "no-preview.yaml:1:1: previewFeatures: the 'inject-files' feature is currently in preview"
sed 's/destination: \/EFI/destinaton: \/EFI/' "$art/inject-files.yaml" > "$art/typo.yaml"
inject_err "unknown key" "$art/typo.yaml" "typo.yaml:5:7: injectFiles[0]"
sed "s/$esp_partuuid/00000000-0000-0000-0000-000000000000/" "$art/inject-files.yaml" > "$art/nopart.yaml"
inject_err "no such partition" "$art/nopart.yaml" "no partition with part-uuid 00000000-0000-0000-0000-000000000000"
sed 's|./shim/bootx64.efi|./shim/missing.efi|' "$art/inject-files.yaml" > "$art/nosrc.yaml"
inject_err "missing source" "$art/nosrc.yaml" "shim/missing.efi is not a file"
set +e
"$IMGRECIPE" inject-files --config-file "$art/inject-files.yaml" --image-file "$T_TMP/c/out.raw" \
    --output-image-file "$T_TMP/c/out.raw" --build-dir "$T_TMP/b" 2> "$T_TMP/err.log"
rc=$?
"$IMGRECIPE" inject-files --config-file "$art/inject-files.yaml" --image-file "$T_TMP/c/out.raw" 2> "$T_TMP/err2.log"
rc2=$?
set -e
check "output = input refused" test "$rc" -ne 0
check_eq "input still untouched" "$in_sum" "$(sha256sum < "$T_TMP/c/out.raw")"
check_eq "no --output-image-file: usage error (exit 2)" 2 "$rc2"
check_contains "names the flag" "$(cat "$T_TMP/err2.log")" "needs --output-image-file"

# ---- output.artifacts config errors and a missing boot file ----
build_err() {  # NAME ITEMS EXPECTED [previewFeatures]
    local name=$1 items=$2 want=$3 preview=${4-"[output-artifacts]"}
    cat > "$T_TMP/c/e.yaml" <<YAML
previewFeatures: $preview
output:
  image: {path: e.raw, format: raw}
  artifacts: {path: art-e, items: $items}
YAML
    set +e
    "$IMGRECIPE" build "$T_TMP/c/e.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" > /dev/null 2> "$T_TMP/err.log"
    local rc=$?
    set -e
    check "$name: fails" test "$rc" -ne 0
    check_contains "$name: message" "$(cat "$T_TMP/err.log")" "$want"
    check "$name: no output" test ! -e "$T_TMP/c/e.raw"
}
build_err "uki-addons refused" "[ukis, uki-addons]" "output.artifacts.items[1]: invalid value 'uki-addons'"
build_err "unknown item" "[signed]" "output.artifacts.items[0]: invalid value 'signed'"
build_err "empty items" "[]" "output.artifacts.items: must list at least one artifact"
build_err "preview feature needed" "[shim]" "output-artifacts" "[]"
build_err "bootloader: the ESP has no grubx64.efi" "[bootloader]" "bootloader: the ESP has no EFI/BOOT/grubx64.efi"

# ---- UKIs with addons and verity hashes (Lua) ----
set +e
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/artifacts.lua" --build-dir "$T_TMP/b" \
    --param input="$IMG_PATH" --param dir="$T_TMP/lua-art" 2> "$T_TMP/lua.log"
rc=$?
set -e
check_eq "Lua export succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -20 "$T_TMP/lua.log"
la=$T_TMP/lua-art
check_eq "UKI, addons in their directory, no other .efi" \
    "ukis/vmlinuz-6.1.0-test.efi ukis/vmlinuz-6.1.0-test.efi.extra.d/a.addon.efi ukis/vmlinuz-6.1.0-test.efi.extra.d/b.addon.efi" \
    "$(cd "$la" && find ukis -type f | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "UKI content" "UKI-MAIN" "$(cat "$la/ukis/vmlinuz-6.1.0-test.efi")"
check_eq "only the device with a hash signature path: its root hash, no newline" "$(printf 'ab%.0s' {1..32})." \
    "$(cat "$la/verity-hash/root.hash"; echo .)"
expected="injectFiles:
    - partition:
        idType: part-uuid
        id: $esp_partuuid
      destination: /EFI/Linux/vmlinuz-6.1.0-test.efi
      source: ./ukis/vmlinuz-6.1.0-test.efi
      type: ukis
    - partition:
        idType: part-uuid
        id: $esp_partuuid
      destination: /EFI/Linux/vmlinuz-6.1.0-test.efi.extra.d/a.addon.efi
      source: ./ukis/vmlinuz-6.1.0-test.efi.extra.d/a.addon.efi
      type: uki-addons
    - partition:
        idType: part-uuid
        id: $esp_partuuid
      destination: /EFI/Linux/vmlinuz-6.1.0-test.efi.extra.d/b.addon.efi
      source: ./ukis/vmlinuz-6.1.0-test.efi.extra.d/b.addon.efi
      type: uki-addons
    - partition:
        idType: part-uuid
        id: $esp_partuuid
      destination: /EFI/BOOT/bootx64.efi
      source: ./shim/bootx64.efi
      type: shim
    - partition:
        idType: part-uuid
        id: $root_partuuid
      destination: /root.hash
      source: ./verity-hash/root.hash
      type: verity-hash
previewFeatures:
    - inject-files"
check_eq "inject-files.yaml: ukis, addons, shim, verity-hash in ALIC's order" "$expected" "$(cat "$la/inject-files.yaml")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
t_done
