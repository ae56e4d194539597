#!/usr/bin/env bash
# YAML storage, booted: the A/B layout of tests/lib/ab_layout.sh (ESP,
# root-a, root-b unformatted, a state partition at /var/lib/state by
# PARTLABEL) built from the Debian base image by `imgrecipe build` boots with
# / on root-a and the state partition mounted; a check unit prints the
# mounts and the kernel command line to the serial console.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/ab_layout.sh"
base=$(base_image debian-base)

ab_layout_config "$T_TMP/ab.yaml" "$T_TMP/ab.qcow2"
"$IMGRECIPE" build "$T_TMP/ab.yaml" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
raw=$T_TMP/ab.raw
qemu-img convert -O raw "$T_TMP/ab.qcow2" "$raw"
root_a=$(sfdisk -J "$raw" | jq -r '.partitiontable.partitions[1].uuid' | tr 'A-F' 'a-f')
rm -f "$raw"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/ab.qcow2" --format qcow2 --timeout 240 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "A/B layout boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_contains "/ is root-a (vda2), ext4" "$(fact "mount /")" "/dev/vda2 ext4"
check_contains "state partition (vda4) mounted at /var/lib/state, xfs" "$(fact "mount /var/lib/state")" "/dev/vda4 xfs"
check_contains "state mounted with the configured option" "$(fact "mount /var/lib/state")" "noatime"
check_contains "ESP (vda1) at /boot/efi" "$(fact "mount /boot/efi")" "/dev/vda1 vfat"
check_contains "kernel booted with root=PARTUUID of root-a" "$(fact cmdline)" "root=PARTUUID=$root_a"
check_eq "file written at build time is on the state partition" "seeded at build" "$(fact state-file)"
t_done
