#!/usr/bin/env bash
# os.services and os.modules on the Debian base image: systemctl enable and
# disable offline show up as the unit symlinks; the three module files ALIC
# owns are edited in place (other lines kept) with exact contents; ALIC's
# errors for missing units and options on disabled modules.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
BASE=$IMG_PATH

cfg=$T_TMP/cfg
mkdir -p "$cfg"
cat > "$cfg/config.yaml" <<YAML
os:
  additionalFiles:
    - destination: /etc/systemd/system/imgrecipe-hello.service
      content: |
        [Unit]
        Description=test unit
        [Service]
        Type=oneshot
        ExecStart=/bin/true
        [Install]
        WantedBy=multi-user.target
    - destination: /etc/modprobe.d/modules-disabled.conf
      content: |
        # local policy
        blacklist foo
        blacklist foobar
    - destination: /etc/modprobe.d/module-options.conf
      content: |
        # opts
        options loop max_loop=8 keep=1
        options other x=1
    - destination: /etc/modules-load.d/modules-load.conf
      content: |
        # load
        vfio
  services:
    enable: [imgrecipe-hello.service, systemd-networkd]
    disable: [e2scrub_reap.service]
  modules:
    - name: foo
      loadMode: auto
    - name: br_netfilter
      loadMode: always
      options: {b: "2", a: "1"}
    - name: vfio
      loadMode: always
    - name: nouveau
      loadMode: disable
    - name: loop
      options: {max_loop: "16"}
output: {image: {path: $T_TMP/out.raw, format: raw}}
YAML
"$IMGRECIPE" build "$cfg/config.yaml" --image-file "$BASE" --build-dir "$T_TMP/build" 2> "$T_TMP/log" \
    || { tail -30 "$T_TMP/log"; t_fail "build"; }
O=$T_TMP/out.raw
link() { debugfs -R "stat $1" "$O?offset=$ROOT_OFFSET" 2>/dev/null | sed -n 's/^Fast link dest: "\(.*\)"/\1/p'; }
exists() { debugfs -R "stat $1" "$O?offset=$ROOT_OFFSET" 2>&1 | grep "^Inode:" > /dev/null; }
check_eq "enabled unit linked into its target" "/etc/systemd/system/imgrecipe-hello.service" \
    "$(link /etc/systemd/system/multi-user.target.wants/imgrecipe-hello.service)"
check_eq "enabled distribution unit" "/lib/systemd/system/systemd-networkd.service" \
    "$(link /etc/systemd/system/multi-user.target.wants/systemd-networkd.service)"
check "base image had the unit enabled" bash -c "debugfs -R 'stat /etc/systemd/system/multi-user.target.wants/e2scrub_reap.service' '$BASE?offset=$ROOT_OFFSET' 2>&1 | grep -q '^Inode:'"
check "disabled unit's link removed" fs_absent "$O" "$ROOT_OFFSET" /etc/systemd/system/multi-user.target.wants/e2scrub_reap.service
check "other links kept" exists /etc/systemd/system/multi-user.target.wants/remote-fs.target
check_contains "log names the services step" "$(cat "$T_TMP/log")" "[services] disabling service 'e2scrub_reap.service'"

check_eq "modules-disabled.conf" "# local policy
blacklist foobar
blacklist nouveau" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/modprobe.d/modules-disabled.conf)"
check_eq "modules-load.conf" "# load
vfio
br_netfilter" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/modules-load.d/modules-load.conf)"
check_eq "module-options.conf" "# opts
options loop max_loop=16 keep=1
options other x=1
options br_netfilter a=1 b=2" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/modprobe.d/module-options.conf)"
check_eq "module-options.conf ends with a newline" "0a" \
    "$(fs_cat "$O" "$ROOT_OFFSET" /etc/modprobe.d/module-options.conf | tail -c 1 | od -An -tx1 | tr -d ' ')"
check_eq "modules-load.conf mode" "0644" "$(fs_mode "$O" "$ROOT_OFFSET" /etc/modules-load.d/modules-load.conf)"

fails_with() {  # DESC EXPECTED YAML-OS-BLOCK
    local n=$((++fail_n)) msg rc
    printf 'os:\n%s\noutput: {image: {path: %s, format: raw}}\n' "$3" "$T_TMP/fail$n.raw" > "$cfg/fail$n.yaml"
    set +e
    msg=$("$IMGRECIPE" build "$cfg/fail$n.yaml" --image-file "$BASE" --build-dir "$T_TMP/build" 2>&1)
    rc=$?
    set -e
    check "$1: fails" test "$rc" -ne 0
    check_contains "$1: message" "$msg" "$2"
    LAST_MSG=$msg
}
fail_n=0
fails_with "disabling a missing unit" \
    "step 'services': failed to disable service 'no-such.service': command \`systemctl is-enabled -- no-such.service\` in the image exited with code 1" \
    "  services: {disable: [no-such.service]}"
check_contains "disabling a missing unit: systemctl's output" "$LAST_MSG" "No such file or directory"
fails_with "enabling a missing unit" \
    "step 'services': failed to enable service 'no-such.service': command \`systemctl enable -- no-such.service\` in the image exited with code 1" \
    "  services: {enable: [no-such.service]}"
fails_with "options for a module disabled in the image" \
    "step 'kernel modules': cannot add options for disabled module (bar) at index 1:" \
    "  additionalFiles: [{destination: /etc/modprobe.d/modules-disabled.conf, content: \"blacklist bar\\n\"}]
  modules: [{name: ok, loadMode: auto}, {name: bar, options: {x: \"1\"}}]"
check_contains "options for a disabled module: ALIC's hint" "$LAST_MSG" "specify auto or always as loadMode to override setting in base image"
fails_with "options with loadMode disable" \
    "cannot add options for disabled module (baz) at index 0" \
    "  modules: [{name: baz, loadMode: disable, options: {x: \"1\"}}]"
t_done
