# shellcheck shell=bash
# Helpers for imgrecipe's integration and boot tests (bash). Source it after
# `set -euo pipefail`. Each test gets a private temp dir, removed on exit.

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$TESTS_DIR/.." && pwd)
IMGRECIPE=${IMGRECIPE:-$REPO_DIR/build/imgrecipe}
T_NAME=${0##*/}
T_NAME=${T_NAME%.sh}
T_TMP=$(mktemp -d "/var/tmp/imgrecipe-test-${T_NAME}.XXXXXX")
T_PASS=0
T_FAIL=0

t_cleanup() {
    local rc=$?
    [[ -n "${KEEP_TEST_TMP:-}" ]] && echo "kept $T_TMP" >&2 || rm -rf --one-file-system -- "$T_TMP"
    exit "$rc"
}
trap t_cleanup EXIT

t_log() { printf '[%s] %s\n' "$T_NAME" "$*" >&2; }
t_pass() { T_PASS=$((T_PASS + 1)); printf 'ok   %s\n' "$*"; }
t_fail() { T_FAIL=$((T_FAIL + 1)); printf 'FAIL %s\n' "$*"; }

# check DESCRIPTION CMD... : records pass/fail of a command.
check() {
    local desc=$1; shift
    if "$@"; then t_pass "$desc"; else t_fail "$desc"; fi
}
check_eq() {  # check_eq DESC EXPECTED ACTUAL
    if [[ "$2" == "$3" ]]; then t_pass "$1"; else t_fail "$1: expected [$2], got [$3]"; fi
}
check_contains() {  # check_contains DESC HAYSTACK NEEDLE
    if [[ "$2" == *"$3"* ]]; then t_pass "$1"; else t_fail "$1: [$3] not found in: ${2:0:2000}"; fi
}
check_not_contains() {
    if [[ "$2" != *"$3"* ]]; then t_pass "$1"; else t_fail "$1: [$3] unexpectedly found"; fi
}

# Closing line that test runners read.
t_done() {
    printf '%d passed, %d failed\n' "$T_PASS" "$T_FAIL"
    [[ $T_FAIL -eq 0 ]]
}

# base_image VARIANT -> path of the cached test image (built if needed):
# build-image.sh's variants, and derive-image.sh's (made by $IMGRECIPE).
base_image() {
    case $1 in
        debian-dracut) IMGRECIPE=$IMGRECIPE "$TESTS_DIR/images/derive-image.sh" "$1" ;;
        *) "$TESTS_DIR/images/build-image.sh" "$1" ;;
    esac
}
# image_env VARIANT -> sources image.env of the variant (partition offsets...).
image_env() {
    local img
    img=$(base_image "$1")
    # shellcheck disable=SC1091
    source "$(dirname "$img")/image.env"
}

# Mount points under DIR in any namespace we can see (the host's).
mounts_under() { grep -c -- " $1" /proc/self/mountinfo || true; }
# Loop devices backed by files of this test (its build dirs live under
# T_TMP), so builds running elsewhere on the machine do not disturb the count.
all_loops() { losetup -l -n -O BACK-FILE 2>/dev/null | grep -c -F -- "$T_TMP" || true; }

# to_raw IMAGE OUT -> converts any output image to raw for inspection.
to_raw() { qemu-img convert -O raw "$1" "$2"; }
# fs_cat RAW OFFSET PATH -> file content from an ext4 filesystem in a raw image.
fs_cat() { debugfs -R "cat $3" "$1?offset=$2" 2>/dev/null; }
# fs_mode RAW OFFSET PATH -> octal permission bits (e.g. 0600).
fs_mode() {
    debugfs -R "stat $3" "$1?offset=$2" 2>/dev/null | awk '/Mode:/ && !done { for (i=1;i<=NF;i++) if ($i=="Mode:") print $(i+1); done=1 }'
}
# fat_cat RAW OFFSET PATH -> file content from a FAT filesystem.
fat_cat() { MTOOLS_SKIP_CHECK=1 mtype -i "$1@@$2" "::$3"; }
# Absence checks that fail when the filesystem cannot be read at all:
# fs_absent RAW OFFSET PATH -> PATH does not exist.
fs_absent() { debugfs -R "stat $3" "$1?offset=$2" 2>&1 | grep 'File not found' > /dev/null; }
# fs_lacks RAW OFFSET DIR TEXT -> DIR can be listed and no name in it contains TEXT.
fs_lacks() {
    local names
    names=$(debugfs -R "ls -p $3" "$1?offset=$2" 2>/dev/null | awk -F/ '/^\// { print $6 }')
    [[ -n "$names" ]] && ! grep -qF -- "$4" <<< "$names"
}
# dir_listing DIR -> every path below DIR with size and mtime (to prove it unchanged).
dir_listing() { (cd "$1" && find . -printf '%p %s %T@\n' | sort); }
