#!/usr/bin/env bash
# YAML /usr verity, inline (issue 10 §3): the /usr layout of
# tests/lib/verity_layout.sh with the hash tree inside the usr partition
# (dataDeviceId = hashDeviceId), built from the Debian base image, boots
# with /usr on /dev/mapper/usr, read-only, `veritysetup status usr`
# verified, the usrhash and the inline hash-offset on the command line.
set -euo pipefail
# IMGRECIPE_BOOT_LOCK=FILE: each boot holds flock FILE (one QEMU at a time on a shared machine).
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
base=$(base_image debian-base)

verity_usr_layout_config "$T_TMP/u.yaml" "$T_TMP/u.qcow2" qcow2
# Inline: one partition holds the data and, after it, the tree.
# Both referenced by the filesystem's UUID (the other id types are booted by
# test_verity_layout.sh: data part-uuid, hash part-label).
sed -i '/- {id: usrhash,/d; s/hashDeviceId: usrhash/hashDeviceId: usr/; s/dataDeviceMountIdType: part-label/dataDeviceMountIdType: uuid/' "$T_TMP/u.yaml"
"$IMGRECIPE" build "$T_TMP/u.yaml" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }

log=$T_TMP/serial.log
if ${IMGRECIPE_BOOT_LOCK:+flock "$IMGRECIPE_BOOT_LOCK"} "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/u.qcow2" --format qcow2 --timeout 400 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "inline /usr verity image boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_contains "/usr is /dev/mapper/usr, ext4, read-only" "$(fact "mount /usr")" "/dev/mapper/usr ext4 ro"
check_contains "veritysetup status usr: verified" "$(fact verity)" "verified"
check_eq "writing to /usr is refused" "refused" "$(fact root-write)"
check_contains "/ is the writable root partition" "$(fact "mount /")" "/dev/vda2 ext4 rw"
check_contains "command line: usrhash" "$(fact cmdline)" "usrhash="
check_contains "command line: inline hash offset" "$(fact cmdline)" "systemd.verity_usr_options=panic-on-corruption,hash-offset="
uuid=$(grep -o 'systemd.verity_usr_data=UUID=[0-9a-f-]*' <<< "$(fact cmdline)" | cut -d= -f3)
check_eq "command line: data by the filesystem UUID" 36 "${#uuid}"
check_contains "command line: inline hash by the same UUID" "$(fact cmdline)" "systemd.verity_usr_hash=UUID=$uuid"
t_done
