#!/usr/bin/env bash
# The same customization as a YAML config (imgrecipe build) and as a Lua
# recipe (imgrecipe run) gives the same image content.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny

cfg=$T_TMP/cfg
mkdir -p "$cfg/files" "$cfg/scripts"
printf 'copied file\n' > "$cfg/files/copied.txt"
chmod 0640 "$cfg/files/copied.txt"
printf '#!/bin/sh\necho "post ran with $GREETING and args $*" > /etc/post-marker\n' > "$cfg/scripts/post.sh"
cat > "$cfg/config.yaml" <<YAML
input: {image: {path: $IMG_PATH}}
os:
  hostname: built-host
  additionalFiles:
    - {content: "secret content\n", destination: /etc/secret.conf, permissions: "0600"}
    - {source: files/copied.txt, destination: /opt/data/copied.txt}
    - {content: "on the esp", destination: /boot/efi/EFI/BOOT/extra.txt}
  kernelCommandLine: {extraCommandLine: [imgrecipe.extra=yes, console=ttyS0]}
scripts:
  postCustomization:
    - {path: scripts/post.sh, arguments: [one, two], environmentVariables: {GREETING: hello}}
  finalizeCustomization:
    - {content: "echo finalized > /etc/finalize-marker\n"}
output: {image: {path: $T_TMP/yaml.raw, format: raw}}
YAML

"$IMGRECIPE" build "$cfg/config.yaml" --build-dir "$T_TMP/b1" 2> "$T_TMP/yaml.log" || { cat "$T_TMP/yaml.log"; t_fail "yaml build"; }
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/same-as-yaml.lua" --build-dir "$T_TMP/b2" \
    --param input="$IMG_PATH" --param output="$T_TMP/lua.raw" --param config_dir="$cfg" 2> "$T_TMP/lua.log" \
    || { cat "$T_TMP/lua.log"; t_fail "lua run"; }
check "both outputs exist" test -f "$T_TMP/yaml.raw" -a -f "$T_TMP/lua.raw"

for f in /etc/hostname /etc/secret.conf /opt/data/copied.txt /boot/grub/grub.cfg /etc/default/grub \
         /etc/post-marker /etc/finalize-marker; do
    a=$(fs_cat "$T_TMP/yaml.raw" "$ROOT_OFFSET" "$f")
    b=$(fs_cat "$T_TMP/lua.raw" "$ROOT_OFFSET" "$f")
    check "$f has content" test -n "$a"
    check_eq "$f same content" "$a" "$b"
    check_eq "$f same mode" "$(fs_mode "$T_TMP/yaml.raw" "$ROOT_OFFSET" "$f")" "$(fs_mode "$T_TMP/lua.raw" "$ROOT_OFFSET" "$f")"
done
check_eq "ESP file same" "$(fat_cat "$T_TMP/yaml.raw" "$ESP_OFFSET" /EFI/BOOT/extra.txt)" \
    "$(fat_cat "$T_TMP/lua.raw" "$ESP_OFFSET" /EFI/BOOT/extra.txt)"
check_eq "same partition table" "$(sfdisk -J "$T_TMP/yaml.raw" | grep -v -e '"device"' -e '"node"')" "$(sfdisk -J "$T_TMP/lua.raw" | grep -v -e '"device"' -e '"node"')"

# A recipe with a missing parameter fails with a message naming it.
set +e
msg=$("$IMGRECIPE" run "$TESTS_DIR/integration/recipes/same-as-yaml.lua" --build-dir "$T_TMP/b3" --param input=x --param output=y 2>&1)
rc=$?
set -e
check "missing param fails" test "$rc" -ne 0
check_contains "missing param named" "$msg" "needs parameter 'config_dir'"
t_done
