#!/usr/bin/env bash
# Commands in the image cannot reach the host (docs/security.md): from a
# postCustomization script on the tiny image, each classic way out is tried
# and must fail: the double-chroot trick (read a host-only file, create a
# host file), /proc/1/root, a device node of the host's root disk, writes to
# host-wide /proc/sys, a fresh proc mount, loading a kernel module. The
# host's state is checked from outside, not only the script's report.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny

# The probe (a static C program: the tiny image has only busybox).
gcc -static -O2 -o "$T_TMP/escape_probe" "$TESTS_DIR/integration/helpers/escape_probe.c"

# A host-only file the image must not see, and a host path it must not create.
marker=$T_TMP/host-only-marker
secret="host-secret-$RANDOM$RANDOM"
echo "$secret" > "$marker"
escaped=$T_TMP/written-from-the-image
# The host's root disk: major:minor of the device behind /.
root_src=$(findmnt -no SOURCE / || true)
if [[ -b "$root_src" ]]; then
    disk=$(stat -c '%t:%T' "$root_src")
else
    disk=$(stat -c '%t:%T' "$(ls /dev/loop0 2>/dev/null || echo /dev/null)")
fi
maj=$((16#${disk%%:*}))
min=$((16#${disk##*:}))
# A host-wide sysctl: the value the image tries to set differs from the host's.
sysctl_path=/proc/sys/vm/overcommit_ratio
host_ratio=$(cat "$sysctl_path")
try_ratio=$((host_ratio + 7))

mkdir -p "$T_TMP/cfg"
cat > "$T_TMP/cfg/escape.sh" <<SH
#!/bin/sh
echo "RESULT started"
/usr/local/bin/escape_probe double-chroot "$marker" "$escaped" | sed 's/^/RESULT dc-/'
if cat "$marker" >/dev/null 2>&1; then echo "RESULT direct=visible"; else echo "RESULT direct=hidden"; fi
if cat "/proc/1/root$marker" >/dev/null 2>&1; then echo "RESULT proc1root=visible"; else echo "RESULT proc1root=hidden"; fi
if mknod /tmp/hostdisk b $maj $min 2>/dev/null; then echo "RESULT mknod=made"; else echo "RESULT mknod=refused"; fi
n=\$(head -c 512 /tmp/hostdisk 2>/dev/null | wc -c)
echo "RESULT hostdisk-bytes=\$n"
rm -f /tmp/hostdisk
if echo $try_ratio > $sysctl_path 2>/dev/null; then echo "RESULT sysctl=written"; else echo "RESULT sysctl=refused"; fi
mkdir -p /tmp/p2
if mount -t proc proc /tmp/p2 2>/dev/null; then echo "RESULT mount=done"; umount /tmp/p2; else echo "RESULT mount=refused"; fi
rmdir /tmp/p2
/usr/local/bin/escape_probe init-module | sed 's/^/RESULT /'
echo "RESULT finished"
SH
cat > "$T_TMP/cfg/config.yaml" <<YAML
input:
  image:
    path: $IMG_PATH
os:
  additionalFiles:
    - source: $T_TMP/escape_probe
      destination: /usr/local/bin/escape_probe
      permissions: "0755"
scripts:
  postCustomization:
    - path: escape.sh
output:
  image:
    path: $T_TMP/out.raw
    format: raw
YAML

set +e
out=$("$IMGRECIPE" build "$T_TMP/cfg/config.yaml" --build-dir "$T_TMP/build" 2>&1)
rc=$?
set -e
after_ratio=$(cat "$sysctl_path")
# Put the host back whatever happened (old code lets the write through).
[[ "$after_ratio" == "$host_ratio" ]] || echo "$host_ratio" > "$sysctl_path"
echo "$out" | grep RESULT || echo "$out" | tail -30
result() { echo "$out" | sed -n "s/.*RESULT $1=//p" | head -1; }

check_eq "build exits 0" 0 "$rc"
check_contains "the script ran to its end" "$out" "RESULT finished"
check_eq "host file not visible directly" "hidden" "$(result direct)"
check_eq "double chroot cannot read the host's file" "failed" "$(result dc-read)"
check "double chroot cannot create a file on the host" test ! -e "$escaped"
check_eq "double chroot reports the write failed" "failed" "$(result dc-write)"
check_eq "/proc/1/root does not lead to the host" "hidden" "$(result proc1root)"
check_eq "no device node of the host's disk ($maj:$min) can be made" "refused" "$(result mknod)"
check_eq "the host's disk cannot be read" "0" "$(result hostdisk-bytes)"
check_eq "writing $sysctl_path fails" "refused" "$(result sysctl)"
check_eq "host's $sysctl_path unchanged" "$host_ratio" "$after_ratio"
check_eq "no proc can be mounted (it would bring a writable /proc/sys)" "refused" "$(result mount)"
module=$(result module)
check "no kernel module can be loaded ($module)" test "$module" = EPERM -o "$module" = ENOSYS
check_eq "no loop device left" "0" "$(all_loops)"
check_eq "no mount left" "0" "$(mounts_under "$T_TMP")"
t_done
