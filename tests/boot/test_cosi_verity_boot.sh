#!/usr/bin/env bash
# Issue 10 §3: a verity image written as COSI, deployed the way a
# provisioning agent does (helpers/cosi_deploy.sh: the GPT region and every
# partition image at its offset in a blank disk, backup GPT relocated),
# boots with / on /dev/mapper/root, read-only, opened with the roothash of
# the COSI metadata's verity object. The layout is
# tests/lib/verity_layout.sh's (ESP, /boot, root + hash partition, /var).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
base=$(base_image debian-dracut)

verity_layout_config "$T_TMP/v.yaml" "$T_TMP/v.cosi" cosi
"$IMGRECIPE" build "$T_TMP/v.yaml" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
mkdir -p "$T_TMP/x"
check "reader finds nothing wrong" python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$T_TMP/v.cosi" "$T_TMP/x" \
    > "$T_TMP/read.txt"
check_eq "the root's entry carries the verity object" 1 "$(grep -c '^verity / ' "$T_TMP/read.txt" || true)"
roothash=$(awk '$1 == "verity" && $2 == "/" {print $3}' "$T_TMP/read.txt")
check "deployed" "$TESTS_DIR/integration/helpers/cosi_deploy.sh" "$T_TMP/read.txt" "$T_TMP/deployed.raw"
rm -rf -- "$T_TMP/x"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/deployed.raw" --timeout 300 --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "deployed verity COSI boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_contains "/ is /dev/mapper/root, ext4" "$(fact "mount /")" "/dev/mapper/root ext4"
check_contains "/ is mounted read-only" "$(fact "mount /")" " ro"
check_eq "writing to / is refused" "refused" "$(fact root-write)"
check_contains "the kernel opened / with the COSI metadata's roothash" "$(fact cmdline)" "roothash=$roothash "
check_contains "/var writable" "$(fact "mount /var")" "ext4 rw"
t_done
