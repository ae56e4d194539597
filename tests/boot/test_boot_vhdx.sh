#!/usr/bin/env bash
# Required end-to-end test: a YAML config with a hostname, two additional
# files (one inline with mode 0600), a postCustomization script that installs
# a systemd unit printing a marker, a finalizeCustomization script and an
# extra kernel argument, written as vhdx and booted in QEMU. The serial
# console must show the new hostname, the unit's marker and the argument in
# /proc/cmdline.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
before=$(sha256sum "$IMG_PATH" | cut -d' ' -f1)

cfg=$T_TMP/cfg
mkdir -p "$cfg/scripts"
cat > "$cfg/scripts/install-unit.sh" <<'SH'
#!/bin/sh
set -e
cat > /etc/systemd/system/imgrecipe-marker.service <<'UNIT'
[Unit]
Description=imgrecipe boot test marker
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "IMGRECIPE-UNIT-MARKER secret-mode=$(stat -c %%a /etc/imgrecipe/secret.conf) final=$(cat /etc/imgrecipe/finalized) note=$(cat /etc/imgrecipe/note.txt)" > /dev/ttyS0; echo "IMGRECIPE-CMDLINE: $(cat /proc/cmdline)" > /dev/ttyS0'

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable imgrecipe-marker.service
SH
cat > "$cfg/config.yaml" <<YAML
input:
  image:
    path: $IMG_PATH
os:
  hostname: booted-by-imgrecipe
  additionalFiles:
    - destination: /etc/imgrecipe/secret.conf
      content: "secret=1"
      permissions: "0600"
    - destination: /etc/imgrecipe/note.txt
      content: "note-ok"
  kernelCommandLine:
    extraCommandLine:
      - imgrecipe.boottest=yes
scripts:
  postCustomization:
    - path: scripts/install-unit.sh
  finalizeCustomization:
    - content: "echo final-ok > /etc/imgrecipe/finalized"
output:
  image:
    path: $T_TMP/booted.vhdx
    format: vhdx
YAML

"$IMGRECIPE" build "$cfg/config.yaml" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }
check_eq "input unchanged" "$before" "$(sha256sum "$IMG_PATH" | cut -d' ' -f1)"
check "vhdx written" test -s "$T_TMP/booted.vhdx"
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/booted.vhdx" --format vhdx --timeout 240 --log "$T_TMP/serial.log" \
    --marker "booted-by-imgrecipe login:" \
    --marker "IMGRECIPE-UNIT-MARKER secret-mode=600 final=final-ok note=note-ok" \
    --marker "imgrecipe.boottest=yes"; then
    t_pass "boots with hostname, unit marker and kernel argument"
else
    t_fail "boot check"
fi
cmdline=$(grep -a 'IMGRECIPE-CMDLINE:' "$T_TMP/serial.log" | head -1 || true)
check_contains "argument is in /proc/cmdline" "$cmdline" "imgrecipe.boottest=yes"
t_done
