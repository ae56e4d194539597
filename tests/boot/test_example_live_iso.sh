#!/usr/bin/env bash
# examples/live-iso-payload: a live ISO made from the Debian base image that
# carries a COSI of a second image (the same base image here) on its media.
# The ISO boots as a CD under UEFI, and the example's agent on the live
# system reads the payload's metadata.json from the media.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
base=$(base_image debian-base)
"$IMGRECIPE" run "$REPO_DIR/examples/live-iso-payload/recipe.lua" --build-dir "$T_TMP/b" \
    --param live="$base" --param payload="$base" --param output="$T_TMP/provision.iso" > "$T_TMP/build.log" 2>&1 \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
t_pass "build"
check_contains "the payload is on the media" "$(xorriso -indev "$T_TMP/provision.iso" -find /payload 2>/dev/null)" \
    "/payload/os.cosi"
log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/provision.iso" --format raw --media cd --timeout 300 \
    --marker "PROVISION payload=" --log "$log"; then
    t_pass "the live ISO boots and its agent ran"
else
    t_fail "boot"
fi
check_contains "the agent read the payload's COSI metadata" "$(tr -d '\r' < "$log" | grep -ao 'PROVISION payload=.*' | head -1)" \
    '"osArch": "x86_64"'
t_done
