#!/usr/bin/env bash
# The test image builder takes its package mirror from the machine's apt
# configuration only: with no apt source configured it fails at once with a
# message saying so (no mirror hostname is built in).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
mkdir -p "$T_TMP/empty"
printf 'Dir::Etc::sourcelist "/dev/null";\nDir::Etc::sourceparts "%s/empty";\n' "$T_TMP" >"$T_TMP/apt.conf"
check_eq "apt lists no index targets" "" "$(APT_CONFIG=$T_TMP/apt.conf apt-get indextargets 2>/dev/null)"
set +e
log=$(env -u IMGRECIPE_MIRROR APT_CONFIG="$T_TMP/apt.conf" IMGRECIPE_CACHE_DIR="$T_TMP/cache" \
    timeout 120 "$TESTS_DIR/images/build-image.sh" debian-base 2>&1)
rc=$?
set -e
check "no mirror: the builder fails" test "$rc" -ne 0
check_contains "no mirror: says where it looked" "$log" "no apt mirror for 'bookworm' in this machine's apt configuration"
check_not_contains "no mirror: nothing downloaded" "$log" "debootstrap bookworm from"
t_done
