#!/usr/bin/env bash
# YAML storage.verity, booted (issue 10 §3): the layout of
# tests/lib/verity_layout.sh (ESP, /boot, root with verity and its hash
# partition, writable /var; dracut installed by the config) built from the
# Debian base image boots with / on /dev/mapper/root, read-only, the kernel
# command line holding the root hash, and /var writable. (The other verity
# tests start from debian-dracut; this one installs dracut, as issue 10 asks.)
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
base=$(base_image debian-base)

verity_layout_config "$T_TMP/v.yaml" "$T_TMP/v.qcow2" qcow2
"$IMGRECIPE" build "$T_TMP/v.yaml" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/v.qcow2" --format qcow2 --timeout 300 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "verity layout boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_contains "/ is /dev/mapper/root, ext4" "$(fact "mount /")" "/dev/mapper/root ext4"
check_contains "/ is mounted read-only" "$(fact "mount /")" " ro"
check_eq "writing to / is refused" "refused" "$(fact root-write)"
check_contains "/var writable on vda5" "$(fact "mount /var")" "/dev/vda5 ext4 rw"
check_contains "kernel command line has the root hash" "$(fact cmdline)" "roothash="
check_contains "kernel command line has rd.systemd.verity=1" "$(fact cmdline)" "rd.systemd.verity=1"
t_done
