#!/usr/bin/env bash
# Symlinks inside the image that point at host paths never redirect a write
# out of the image: they resolve inside the image root.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny

marker=imgrecipe-escape-$$
rm -f "/tmp/$marker" /tmp/imgrecipe-escape-test
cat > "$T_TMP/config.yaml" <<YAML
input: {image: {path: $IMG_PATH}}
os:
  additionalFiles:
    - {content: "via absolute link", destination: /etc/evil/$marker}
    - {content: "via relative link", destination: /etc/evil2}
    - {content: "via dot-dot", destination: /../../../tmp/$marker-dots}
output: {image: {path: $T_TMP/out.raw, format: raw}}
YAML
"$IMGRECIPE" build "$T_TMP/config.yaml" --build-dir "$T_TMP/build" 2> "$T_TMP/log" || { cat "$T_TMP/log"; t_fail "build"; }
check "nothing written to host /tmp via absolute link" test ! -e "/tmp/$marker"
check "nothing written to host via relative link" test ! -e /tmp/imgrecipe-escape-test
check "nothing written to host via .." test ! -e "/tmp/$marker-dots"
check_eq "absolute link resolved inside the image" "via absolute link" "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" "/tmp/$marker")"
check_eq "relative link resolved inside the image" "via relative link" "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" /tmp/imgrecipe-escape-test)"
check_eq ".. stays inside the image" "via dot-dot" "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" "/tmp/$marker-dots")"
check_eq "link itself kept" "/tmp" "$(debugfs -R 'stat /etc/evil' "$T_TMP/out.raw?offset=$ROOT_OFFSET" 2>/dev/null | sed -n 's/^Fast link dest: "\(.*\)"/\1/p')"
t_done
