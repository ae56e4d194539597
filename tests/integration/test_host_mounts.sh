#!/usr/bin/env bash
# A running build does not hold the host's filesystems: a filesystem the
# host unmounts while a build runs is gone from the build's mount namespace
# too (slave propagation), so its device is released at once, not when the
# build ends. The build's own mounts never appear on the host.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
mkdir -p "$T_TMP/shared" "$T_TMP/cfg"
# The parent of the host's filesystem is shared, as systemd makes every mount
# (this machine's / is private): unmounts propagate through the parent.
mount --bind "$T_TMP/shared" "$T_TMP/shared"
mount --make-shared "$T_TMP/shared"
trap 'rc=$?; umount -R "$T_TMP/shared" 2>/dev/null || :; set +e; (exit $rc); t_cleanup' EXIT
mkdir -p "$T_TMP/shared/hostfs"
mount -t tmpfs -o size=1m imgrecipe-test-hostfs "$T_TMP/shared/hostfs"
marker="SLEEPING-$$-$RANDOM"
cat >"$T_TMP/cfg/config.yaml" <<YAML
input: {image: {path: $IMG_PATH}}
output: {image: {path: $T_TMP/out.qcow2, format: qcow2}}
scripts:
  postCustomization:
    - name: wait
      content: |
        echo $marker
        sleep 4
YAML
"$IMGRECIPE" build "$T_TMP/cfg/config.yaml" --build-dir "$T_TMP/build" >"$T_TMP/log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do grep -q "$marker" "$T_TMP/log" && break; sleep 0.1; done
check "the build reached its script" grep -q "$marker" "$T_TMP/log"
check "the build sees the host's mount" grep -q " $T_TMP/shared/hostfs " "/proc/$pid/mountinfo"
check_eq "the build's mounts are not on the host" 0 "$(grep -c " $T_TMP/build" /proc/self/mountinfo || true)"
umount "$T_TMP/shared/hostfs"
sleep 0.2
check_eq "unmounted on the host: gone from the build too" 0 "$(grep -c " $T_TMP/shared/hostfs " "/proc/$pid/mountinfo" || true)"
set +e
wait "$pid"
rc=$?
set -e
check_eq "the build succeeds" 0 "$rc"
umount "$T_TMP/shared"
t_done
