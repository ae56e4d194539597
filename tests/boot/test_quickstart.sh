#!/usr/bin/env bash
# The README's main job output: examples/quickstart/config.yaml applied to
# the Debian base image boots and its hello unit reports the new hostname and
# the extra kernel argument.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
base=$(base_image debian-base)
"$IMGRECIPE" build "$REPO_DIR/examples/quickstart/config.yaml" --image-file "$base" \
    --output-image-file "$T_TMP/demo.vhdx" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "quickstart build"; t_done; }
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/demo.vhdx" --format vhdx --timeout 240 \
    --marker "imgrecipe-demo login:" --marker "imgrecipe-demo: hello from imgrecipe-demo" \
    --marker "imgrecipe.demo=1" \
    --marker "imgrecipe-demo: user demo:/home/demo:/bin/bash groups demo demo-admins"; then
    t_pass "quickstart image boots and says hello"
else
    t_fail "quickstart boot"
fi
t_done
