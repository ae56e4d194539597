#!/usr/bin/env bash
# Users, services and kernel modules, checked in the booted Debian image: a
# oneshot unit prints the facts to the serial console. Two builds: the
# first adds the user and enables units A, B and the check unit; the second
# (on the first's output) disables B, so B must not run at boot.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
base=$(base_image debian-base)
cfg=$T_TMP/cfg
mkdir -p "$cfg"
PW='Boot-Test-PW-4711'

cat > "$cfg/step1.yaml" <<YAML
os:
  groups:
    - {name: devs, gid: 4242}
  users:
    - name: alice
      uid: 2001
      password: {type: plain-text, value: "$PW"}
      primaryGroup: devs
      secondaryGroups: [sudo]
      homeDirectory: /srv/home/alice
      startupCommand: /bin/bash
      sshPublicKeys: ["ssh-ed25519 AAAAC3NzaBootKey alice@boot"]
  additionalFiles:
    - destination: /etc/systemd/system/imgrecipe-a.service
      content: |
        [Unit]
        Description=imgrecipe test unit A
        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/bin/sh -c 'echo ran > /run/imgrecipe-a'
        [Install]
        WantedBy=multi-user.target
    - destination: /etc/systemd/system/imgrecipe-b.service
      content: |
        [Unit]
        Description=imgrecipe test unit B
        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/bin/sh -c 'echo ran > /run/imgrecipe-b'
        [Install]
        WantedBy=multi-user.target
    - destination: /etc/systemd/system/imgrecipe-check.service
      content: |
        [Unit]
        Description=imgrecipe users/services/modules check
        After=imgrecipe-a.service imgrecipe-b.service systemd-modules-load.service
        [Service]
        Type=oneshot
        ExecStart=/usr/local/bin/imgrecipe-check
        [Install]
        WantedBy=multi-user.target
    - destination: /usr/local/bin/imgrecipe-check
      permissions: "0755"
      content: |
        #!/bin/sh
        exec >/dev/ttyS0 2>&1
        say() { printf 'IRCHECK %s=%s\n' "\$1" "\$2"; }
        say passwd "\$(grep '^alice:' /etc/passwd)"
        say groups "\$(id -Gn alice)"
        hash=\$(awk -F: '\$1 == "alice" { print \$2 }' /etc/shadow)
        say hash-type "\$(printf '%s' "\$hash" | cut -c1-3)"
        say password "\$(perl -e 'print crypt(\$ARGV[0], \$ARGV[1]) eq \$ARGV[1] ? "verifies" : "wrong"' '$PW' "\$hash")"
        say home "\$(stat -c '%a %U:%G' /srv/home/alice)"
        say ssh-dir "\$(stat -c '%a %U:%G' /srv/home/alice/.ssh)"
        say ssh-keys "\$(stat -c '%a %U:%G' /srv/home/alice/.ssh/authorized_keys) \$(cat /srv/home/alice/.ssh/authorized_keys)"
        say unit-a "\$(cat /run/imgrecipe-a 2>/dev/null || echo not-run)"
        say unit-b "\$(cat /run/imgrecipe-b 2>/dev/null || echo not-run)"
        say unit-b-state "\$(systemctl is-enabled imgrecipe-b.service)"
        say modules-load "\$(tr '\n' ' ' < /etc/modules-load.d/modules-load.conf)"
        say modules-disabled "\$(tr '\n' ' ' < /etc/modprobe.d/modules-disabled.conf)"
        say module-options "\$(tr '\n' ' ' < /etc/modprobe.d/module-options.conf)"
        say loop-loaded "\$(test -d /sys/module/loop && echo yes || echo no)"
        say loop-max "\$(cat /sys/module/loop/parameters/max_loop 2>/dev/null || echo none)"
        echo IRCHECK-DONE
  services:
    enable: [imgrecipe-a.service, imgrecipe-b.service, imgrecipe-check.service]
  modules:
    - {name: loop, loadMode: always, options: {max_loop: "5"}}
    - {name: pcspkr, loadMode: disable}
output: {image: {path: $T_TMP/step1.raw, format: raw}}
YAML
cat > "$cfg/step2.yaml" <<YAML
os:
  services:
    disable: [imgrecipe-b.service]
output: {image: {path: $T_TMP/step2.qcow2, format: qcow2}}
YAML

"$IMGRECIPE" build "$cfg/step1.yaml" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/build1.log" \
    || { tail -30 "$T_TMP/build1.log"; t_fail "build 1"; t_done; }
"$IMGRECIPE" build "$cfg/step2.yaml" --image-file "$T_TMP/step1.raw" --build-dir "$T_TMP/build" 2> "$T_TMP/build2.log" \
    || { tail -30 "$T_TMP/build2.log"; t_fail "build 2"; t_done; }
rm -f "$T_TMP/step1.raw"

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$T_TMP/step2.qcow2" --format qcow2 --timeout 240 \
    --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "image boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_eq "user in /etc/passwd: uid, group, home, shell" "alice:x:2001:4242::/srv/home/alice:/bin/bash" "$(fact passwd)"
check_eq "groups" "devs sudo" "$(fact groups)"
check_eq "SHA-512 hash in /etc/shadow" '$6$' "$(fact hash-type)"
check_eq "password verifies in the guest" "verifies" "$(fact password)"
check_eq "home owned by the user" "755 alice:devs" "$(fact home)"
check_eq ".ssh 0700, owned by the user" "700 alice:devs" "$(fact ssh-dir)"
check_eq "authorized_keys 0600, owned, content" "600 alice:devs ssh-ed25519 AAAAC3NzaBootKey alice@boot" "$(fact ssh-keys)"
check_eq "enabled unit ran" "ran" "$(fact unit-a)"
check_eq "unit disabled by the second build did not run" "not-run" "$(fact unit-b)"
check_eq "unit state" "disabled" "$(fact unit-b-state)"
check_eq "modules-load.conf" "loop " "$(fact modules-load)"
check_eq "modules-disabled.conf" "blacklist pcspkr " "$(fact modules-disabled)"
check_eq "module-options.conf" "options loop max_loop=5 " "$(fact module-options)"
check_eq "module loaded at boot (modules-load.d)" "yes" "$(fact loop-loaded)"
check_eq "module option applied (module-options.conf)" "5" "$(fact loop-max)"
t_done
