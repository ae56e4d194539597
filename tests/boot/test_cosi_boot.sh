#!/usr/bin/env bash
# Issue 8 §5 (b), for the image's own layout: the Debian base image written
# as COSI by a Lua recipe (root shrunk), read back by the independent reader,
# deployed as a provisioning agent does (helpers/cosi_deploy.sh) and booted
# under QEMU + OVMF: a unit the recipe installed prints its marker.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/cosi.lua" --build-dir "$T_TMP/b" \
    --param input="$IMG_PATH" --param output="$T_TMP/boot.cosi" --param report="$T_TMP/report" \
    --param boot_marker=1 2> "$T_TMP/run.log" || { tail -30 "$T_TMP/run.log"; exit 1; }
mkdir -p "$T_TMP/x"
check "reader finds nothing wrong" python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$T_TMP/boot.cosi" "$T_TMP/x" \
    > "$T_TMP/read.txt"
check "deployed" "$TESTS_DIR/integration/helpers/cosi_deploy.sh" "$T_TMP/read.txt" "$T_TMP/deployed.raw"
rm -rf -- "$T_TMP/x"
check "deployed disk boots and runs the recipe's unit" "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/deployed.raw" \
    --marker "COSI-BOOTED written before the COSI" --timeout 300 --log "$T_TMP/serial.log"
grep -a 'COSI-BOOTED' "$T_TMP/serial.log" | head -2 || true
t_done
