#!/usr/bin/env bash
# os.groups and os.users on the Debian base image (shadow-utils): every
# password type, locked accounts, uid/home/shell/groups, SSH keys with owner
# and modes, existing users updated, ALIC's errors for uid/home/gid on
# existing accounts, and no password or hash in any log.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
BASE=$IMG_PATH
before=$(sha256sum "$BASE" | cut -d' ' -f1)

cfg=$T_TMP/cfg
mkdir -p "$cfg/secrets" "$cfg/keys"
PW_ALICE='Alice-Plain-PW-7781'
PW_BOB='Bob-File-PW-5520'
PW_CAROL='Carol-Hashed-File-PW-9913'
PW_ERIN='Erin-Hashed-PW-3307'
PW_ROOT='Root-Plain-PW-6642'
printf '%s\n' "$PW_BOB" > "$cfg/secrets/bob.txt"
HASH_CAROL=$(openssl passwd -6 -salt carolsalt "$PW_CAROL")
HASH_ERIN=$(openssl passwd -6 -salt erinsalt "$PW_ERIN")
printf '%s\n' "$HASH_CAROL" > "$cfg/secrets/carol.hash"
printf 'ssh-ed25519 AAAAC3NzaFileKey1 alice@file\nssh-ed25519 AAAAC3NzaFileKey2 alice@file2\n' > "$cfg/keys/alice.pub"

cat > "$cfg/config.yaml" <<YAML
os:
  groups:
    - name: devs
      gid: 4242
    - name: ops
  users:
    - name: alice
      uid: 2001
      password: {type: plain-text, value: "$PW_ALICE"}
      primaryGroup: devs
      secondaryGroups: [ops, sudo]
      homeDirectory: /srv/home/alice
      startupCommand: /bin/bash
      sshPublicKeys: ["ssh-ed25519 AAAAC3NzaInlineKey alice@inline"]
      sshPublicKeyPaths: [keys/alice.pub]
      passwordExpiresDays: 30
    - name: bob
      password: {type: plain-text-file, value: secrets/bob.txt}
    - name: carol
      password: {type: hashed-file, value: secrets/carol.hash}
    - name: erin
      password: {type: hashed, value: "$HASH_ERIN"}
    - name: dave
      password: {type: locked}
    - name: frank
    - name: root
      password: {type: plain-text, value: "$PW_ROOT"}
      sshPublicKeys: ["ssh-ed25519 AAAAC3NzaRootKey root@inline"]
      secondaryGroups: [ops]
      startupCommand: /bin/sh
      passwordExpiresDays: -1
    - name: daemon
      password: {type: locked}
      primaryGroup: ops
output: {image: {path: $T_TMP/out.raw, format: raw}}
YAML

set +e
"$IMGRECIPE" build "$cfg/config.yaml" --image-file "$BASE" --build-dir "$T_TMP/build" \
    --log-file "$T_TMP/build.logfile" > "$T_TMP/stdout" 2> "$T_TMP/stderr"
rc=$?
set -e
tail -30 "$T_TMP/stderr"
check_eq "build exits 0" 0 "$rc"
check_eq "input unchanged" "$before" "$(sha256sum "$BASE" | cut -d' ' -f1)"
O=$T_TMP/out.raw
passwd=$(fs_cat "$O" "$ROOT_OFFSET" /etc/passwd)
group=$(fs_cat "$O" "$ROOT_OFFSET" /etc/group)
shadow=$(fs_cat "$O" "$ROOT_OFFSET" /etc/shadow)
pw_line() { awk -F: -v u="$1" '$1 == u' <<< "$passwd"; }
sh_field() { awk -F: -v u="$1" -v f="$2" '$1 == u { print $f }' <<< "$shadow"; }
# A $6$ (SHA-512 crypt) hash that the host's openssl reproduces from the plain text.
verifies() {
    local plain=$1 hash=$2 salt
    [[ $hash == '$6$'* ]] || return 1
    salt=$(cut -d'$' -f3 <<< "$hash")
    [[ "$(openssl passwd -6 -salt "$salt" "$plain")" == "$hash" ]]
}

check_eq "group devs with gid" "devs:x:4242:" "$(grep '^devs:' <<< "$group")"
check_contains "group ops added" "$group" "ops:x:"
check_eq "alice: uid, primary group, home, shell" "alice:x:2001:4242::/srv/home/alice:/bin/bash" "$(pw_line alice)"
check_contains "alice in ops" "$(grep '^ops:' <<< "$group")" "alice"
check_contains "alice in sudo" "$(grep '^sudo:' <<< "$group")" "alice"
check "alice: plain-text password hashed (SHA-512 crypt, verifies)" verifies "$PW_ALICE" "$(sh_field alice 2)"
check_eq "alice: expiry = last change + 30" "$(( $(sh_field alice 3) + 30 ))" "$(sh_field alice 8)"
check "bob: plain-text-file password hashed" verifies "$PW_BOB" "$(sh_field bob 2)"
check_eq "carol: hashed-file written as is" "$HASH_CAROL" "$(sh_field carol 2)"
check_eq "erin: hashed written as is" "$HASH_ERIN" "$(sh_field erin 2)"
check_eq "dave (new, locked): useradd's '!'" "!" "$(sh_field dave 2)"
check_eq "frank (new, no password): '!'" "!" "$(sh_field frank 2)"
check_eq "daemon (existing, locked): '*'" "*" "$(sh_field daemon 2)"
check_contains "new user gets a home from useradd -m" "$(pw_line bob)" ":/home/bob:"
is_dir() { debugfs -R "stat $1" "$O?offset=$ROOT_OFFSET" 2>/dev/null | grep "Type: directory" > /dev/null; }
check "bob's home created" is_dir /home/bob
check "root: password updated" verifies "$PW_ROOT" "$(sh_field root 2)"
check_eq "root: -1 clears max age and expiry" "::::" "$(sh_field root 5):$(sh_field root 6):$(sh_field root 7):$(sh_field root 8):"
check_eq "root: shell changed" "root:x:0:0:root:/root:/bin/sh" "$(pw_line root)"
check_contains "root in ops" "$(grep '^ops:' <<< "$group")" "root"
ops_gid=$(grep '^ops:' <<< "$group" | cut -d: -f3)
check_eq "daemon: primary group changed (usermod -g)" "$ops_gid" "$(pw_line daemon | cut -d: -f4)"

# SSH keys: content, owner, modes.
keys=$(fs_cat "$O" "$ROOT_OFFSET" /srv/home/alice/.ssh/authorized_keys)
check_eq "alice: keys from files, then inline" "ssh-ed25519 AAAAC3NzaFileKey1 alice@file
ssh-ed25519 AAAAC3NzaFileKey2 alice@file2
ssh-ed25519 AAAAC3NzaInlineKey alice@inline" "$keys"
check_eq "authorized_keys 0600" "0600" "$(fs_mode "$O" "$ROOT_OFFSET" /srv/home/alice/.ssh/authorized_keys)"
check_eq ".ssh 0700" "0700" "$(fs_mode "$O" "$ROOT_OFFSET" /srv/home/alice/.ssh)"
owner() { debugfs -R "stat $1" "$O?offset=$ROOT_OFFSET" 2>/dev/null | sed -n 's/.*User: *\([0-9]*\) *Group: *\([0-9]*\).*/\1:\2/p'; }
check_eq "authorized_keys owned by alice" "2001:4242" "$(owner /srv/home/alice/.ssh/authorized_keys)"
check_eq ".ssh owned by alice" "2001:4242" "$(owner /srv/home/alice/.ssh)"
check_eq "root key added" "ssh-ed25519 AAAAC3NzaRootKey root@inline" "$(fs_cat "$O" "$ROOT_OFFSET" /root/.ssh/authorized_keys)"
check_eq "root authorized_keys 0600" "0600" "$(fs_mode "$O" "$ROOT_OFFSET" /root/.ssh/authorized_keys)"
check "root fs clean" e2fsck -fn "$O?offset=$ROOT_OFFSET" >/dev/null 2>&1

# No password and no hash in any log.
logs="$(cat "$T_TMP/stdout" "$T_TMP/stderr" "$T_TMP/build.logfile")"
check_contains "log file written" "$logs" "[users] adding user 'alice'"
for secret in "$PW_ALICE" "$PW_BOB" "$PW_CAROL" "$PW_ERIN" "$PW_ROOT" "$HASH_CAROL" "$HASH_ERIN" \
    "$(sh_field alice 2)" "$(sh_field bob 2)" "$(sh_field root 2)"; do
    check_not_contains "no secret in the logs (${secret:0:6}...)" "$logs" "$secret"
done
check_not_contains "no hash prefix in the logs" "$logs" '$6$'
history=$(fs_cat "$O" "$ROOT_OFFSET" /usr/share/image-customizer/history.json)
check_not_contains "no plain password in the image history" "$history" "$PW_ALICE"

# Errors ALIC reports, with its messages; a failing command names itself.
fails_with() {  # DESC EXPECTED YAML-OS-BLOCK
    local desc=$1 expected=$2 n=$((++fail_n))
    printf 'os:\n%s\noutput: {image: {path: %s, format: raw}}\n' "$3" "$T_TMP/fail$n.raw" > "$cfg/fail$n.yaml"
    set +e
    local msg
    msg=$("$IMGRECIPE" build "$cfg/fail$n.yaml" --image-file "$BASE" --build-dir "$T_TMP/build" \
        --log-file "$T_TMP/fail.logfile" 2>&1)
    local rc=$?
    set -e
    check "$desc: fails" test "$rc" -ne 0
    check_contains "$desc: message" "$msg" "$expected"
    check "$desc: no output" test ! -e "$T_TMP/fail$n.raw"
    LAST_MSG=$msg
}
fail_n=0
fails_with "uid on an existing user" \
    "step 'users': cannot set UID on a user that already exists (UID='0', user='root')" \
    "  users: [{name: root, uid: 0}]"
fails_with "home on an existing user" \
    "step 'users': cannot set home directory on a user that already exists (homeDir='/x', user='root')" \
    "  users: [{name: root, homeDirectory: /x}]"
fails_with "gid on an existing group" \
    "step 'groups': cannot set GID on a group that already exists (GID='42', group='root')" \
    "  groups: [{name: root, gid: 42}]"
fails_with "missing primary group" \
    "step 'users': failed to add user 'gina': command \`useradd -m -g nosuchgroup -- gina\` in the image exited with code 6" \
    "  users: [{name: gina, primaryGroup: nosuchgroup, password: {type: plain-text, value: '$PW_ALICE'}}]"
check_contains "missing primary group: useradd's own message" "$LAST_MSG" "group 'nosuchgroup' does not exist"
check_not_contains "failed build: no password in the error" "$LAST_MSG$(cat "$T_TMP/fail.logfile")" "$PW_ALICE"
fails_with "missing secondary group" \
    "step 'users': failed to set the secondary groups of user 'hank': command \`usermod -a -G nosuchgroup -- hank\`" \
    "  users: [{name: hank, secondaryGroups: [nosuchgroup]}]"
fails_with "missing password file" "secrets/none.txt" \
    "  users: [{name: ivan, password: {type: plain-text-file, value: secrets/none.txt}}]"
check_eq "no loop device left" "" "$(losetup -a | grep "$T_TMP" || true)"
t_done
