#!/usr/bin/env bash
# Issue 9 §3 failure paths of the LiveOS ISO and PXE outputs (the missing
# dracut case is in test_liveos_iso.sh):
# - SIGINT while mksquashfs makes the live root of a YAML ISO build: exit
#   130, "interrupted", mksquashfs stopped, no output or temporary, no loop
#   device, mount or working file left, the input unchanged;
# (a payload over the ISO9660 per-file limit is checked in
# test_liveos_iso.sh's build, which costs no extra ISO build there);
# - a pxe-dir build killed with SIGKILL leaves its `.NAME.tmp-*` directory:
#   the next run writing the same output removes it (and never one that a
#   live run holds).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-dracut

cfg=$T_TMP/cfg
mkdir -p "$cfg" "$T_TMP/out"
# The input of the cases below: debian-dracut with what the live and PXE
# initramfs need, so the builds reach mksquashfs quickly.
printf 'os:\n  packages:\n    install: [%s]\n' \
    "dracut, dracut-live, dracut-network, curl, isc-dhcp-client, iputils-arping, procps, iproute2" > "$cfg/dracut.yaml"
input=$T_TMP/dracut.raw
"$IMGRECIPE" build --config-file "$cfg/dracut.yaml" --image-file "$IMG_PATH" --output-image-file "$input" \
    --output-image-format raw --build-dir "$T_TMP/b" 2> "$T_TMP/dracut.log" \
    || { tail -30 "$T_TMP/dracut.log"; t_fail "input with dracut"; t_done; exit 1; }
input_sum=$(sha256sum < "$input")

# ---- SIGINT during mksquashfs ----
printf 'iso:\n  kernelCommandLine:\n    extraCommandLine: [imgrecipe.x=1]\n' > "$cfg/iso.yaml"
"$IMGRECIPE" build --config-file "$cfg/iso.yaml" --image-file "$input" --output-image-file "$T_TMP/out/int.iso" \
    --output-image-format iso --build-dir "$T_TMP/b" > "$T_TMP/int.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
    pgrep -f "^mksquashfs .*$T_TMP/b" > /dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
check "mksquashfs started" test -n "$(pgrep -f "^mksquashfs .*$T_TMP/b" || true)"
sleep 1
loops_during=$(all_loops)
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
check_eq "SIGINT: exit code 130" 130 "$rc"
check_contains "SIGINT: interrupted" "$(cat "$T_TMP/int.log")" "interrupted"
check "SIGINT: the image was attached while mksquashfs ran ($loops_during loop devices)" test "$loops_during" -gt 0
check_eq "SIGINT: mksquashfs stopped" "" "$(pgrep -f "^mksquashfs .*$T_TMP/b" || true)"
check_eq "SIGINT: no output, no temporary" "" "$(ls -A "$T_TMP/out")"
check_eq "SIGINT: no loop device left" 0 "$(all_loops)"
check_eq "SIGINT: no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "SIGINT: working files removed" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_eq "SIGINT: the input is unchanged" "$input_sum" "$(sha256sum < "$input")"

# ---- a SIGKILLed pxe-dir build's temporary directory is reclaimed ----
printf 'pxe:\n  bootstrapBaseUrl: http://10.0.2.2:8000/pxe/\noutput:\n  image:\n    format: pxe-dir\n' \
    > "$cfg/pxe.yaml"
pxe=$T_TMP/out/pxe
"$IMGRECIPE" build --config-file "$cfg/pxe.yaml" --image-file "$input" --output-image-file "$pxe" \
    --build-dir "$T_TMP/kb" > "$T_TMP/kill.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
    [[ -n $(find "$T_TMP/out" -maxdepth 1 -name '.pxe.tmp-*' 2>/dev/null) ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
left=$(find "$T_TMP/out" -maxdepth 1 -name '.pxe.tmp-*')
check "SIGKILL: the temporary directory is left ($left)" test -n "$left"
# The killed run's loop devices and mounts go with its process (the kernel
# releases autoclear loops; its mounts were in its own namespace).
for _ in $(seq 1 50); do [[ $(all_loops) -eq 0 ]] && break; sleep 0.2; done
# A live run's temporary directory (locked): never taken for stale.
live=$T_TMP/out/.pxe.tmp-Live12
mkdir "$live"
touch "$live/keep"
flock --no-fork "$live" sleep 600 > /dev/null 2>&1 &
holder=$!
for _ in $(seq 1 50); do [[ -n $(ls -l /proc/$holder/fd 2>/dev/null | grep -F "$live") ]] && break; sleep 0.1; done
set +e
"$IMGRECIPE" build --config-file "$cfg/pxe.yaml" --image-file "$input" --output-image-file "$pxe" \
    --build-dir "$T_TMP/kb" 2> "$T_TMP/next.log"
rc=$?
set -e
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
check_eq "the next pxe-dir build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -20 "$T_TMP/next.log"
check_contains "it says it removed the killed run's directory" "$(cat "$T_TMP/next.log")" \
    "left by a run that was killed"
check "the killed run's directory is gone" test ! -e "$left"
check "a live run's directory is kept" test -e "$live/keep"
check "the output tree is complete" test -f "$pxe/bootx64.efi" -a -f "$pxe/boot/grub2/grub.cfg"
rm -rf "$live"
check_eq "no other temporary left" "" "$(find "$T_TMP/out" -maxdepth 1 -name '.pxe.tmp-*')"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
t_done
