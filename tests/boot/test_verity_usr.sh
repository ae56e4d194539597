#!/usr/bin/env bash
# YAML /usr verity (issue 10 §3): the /usr layout of tests/lib/verity_layout.sh
# (usr data and its hash partition, both referenced by UUID), built from the
# Debian base image, boots with /usr on /dev/mapper/usr, read-only,
# `veritysetup status usr` verified, the usrhash on the command line and the
# root partition's root= kept (without it the initrd mounted no root and the
# boot hung at journald/udevd after switch-root: issue 10).
# Inline verity on Debian 12 (systemd 252's systemd-veritysetup has no
# hash-offset= option) is opened by veritysetup in the initramfs
# (tests/boot/test_verity_inline.sh boots it): without cryptsetup-bin the
# build refuses it, naming the package.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
base=$(base_image debian-dracut)

verity_usr_layout_config "$T_TMP/u.yaml" "$T_TMP/u.qcow2" qcow2
# Data by the filesystem's UUID, hash by the superblock's (the other id types
# are booted by test_verity_layout.sh: data part-uuid, hash part-label).
sed -i 's/dataDeviceMountIdType: part-label/dataDeviceMountIdType: uuid/' "$T_TMP/u.yaml"
# Inline: one partition holds the data and, after it, the tree.
sed '/- {id: usrhash,/d; s/hashDeviceId: usrhash/hashDeviceId: usr/; /^    - cryptsetup-bin$/d' "$T_TMP/u.yaml" > "$T_TMP/inline.yaml"
msg=$("$IMGRECIPE" build "$T_TMP/inline.yaml" --image-file "$base" --build-dir "$T_TMP/build-inline" 2>&1 || true)
check_contains "inline verity on systemd 252 without veritysetup: refused, naming the package" "$msg" "install 'cryptsetup-bin'"

"$IMGRECIPE" build "$T_TMP/u.yaml" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/u.qcow2" --format qcow2 --timeout 400 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "/usr verity image boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_contains "/usr is /dev/mapper/usr, ext4, read-only" "$(fact "mount /usr")" "/dev/mapper/usr ext4 ro"
check_contains "veritysetup status usr: verified" "$(fact verity)" "verified"
check_eq "writing to /usr is refused" "refused" "$(fact root-write)"
check_contains "/ is the writable root partition" "$(fact "mount /")" "/dev/vda2 ext4 rw"
check_contains "command line: usrhash" "$(fact cmdline)" "usrhash="
# /usr verity alone keeps the image's root= (issue 10: it was removed with the
# old verity arguments, and the initrd then had no root to mount).
check_contains "command line: the root partition's root= kept" "$(fact cmdline)" "root=PARTUUID="
check_contains "command line: data by UUID" "$(fact cmdline)" "systemd.verity_usr_data=UUID="
check_contains "command line: hash by UUID" "$(fact cmdline)" "systemd.verity_usr_hash=UUID="
t_done
