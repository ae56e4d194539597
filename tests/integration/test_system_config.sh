#!/usr/bin/env bash
# imgrecipe build on the tiny image: resolv.conf override and restore (symlink,
# file and missing cases), /etc/image-customizer-release and history.json,
# os.imageHistory: none, SELinux disabled and the missing-policy error, and the
# installed-kernel check. Everything read back from the output image.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
BASE=$IMG_PATH
host_resolv=$(cat /etc/resolv.conf)

cfg=$T_TMP/cfg
mkdir -p "$cfg/files"
printf 'hashed file\n' > "$cfg/files/data.txt"
data_sha=$(sha256sum "$cfg/files/data.txt" | cut -d' ' -f1)

# build NAME EXTRA_YAML: builds $T_TMP/NAME.raw; output in $T_TMP/NAME.log.
build() {
    local name=$1 extra=$2
    cat > "$cfg/$name.yaml" <<YAML
input:
  image:
    path: $BASE
$extra
output:
  image:
    path: $T_TMP/$name.raw
    format: raw
YAML
    "$IMGRECIPE" build "$cfg/$name.yaml" --build-dir "$T_TMP/build" > "$T_TMP/$name.log" 2>&1
}
rootfs() { fs_cat "$T_TMP/$1.raw" "$ROOT_OFFSET" "$2"; }
link_of() { debugfs -R "stat $2" "$T_TMP/$1.raw?offset=$ROOT_OFFSET" 2>/dev/null | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p'; }

# --- 1. main build: resolv.conf is the host's during the run, then restored ---
if build main "os:
  additionalFiles:
    - source: files/data.txt
      destination: /etc/data.txt
scripts:
  postCustomization:
    - content: |
        cat /etc/resolv.conf > /etc/resolv-during-post
  finalizeCustomization:
    - content: |
        readlink /etc/resolv.conf > /etc/resolv-during-finalize"; then
    t_pass "build with history and resolv.conf override"
else
    t_fail "build main"; tail -20 "$T_TMP/main.log"; t_done
fi
check_eq "post script saw the host's resolv.conf" "$host_resolv" "$(rootfs main /etc/resolv-during-post)"
check_eq "finalize script saw the restored resolv.conf (as ALIC)" "../run/systemd/resolve/stub-resolv.conf" "$(rootfs main /etc/resolv-during-finalize)"
check_eq "resolv.conf symlink restored exactly" "../run/systemd/resolve/stub-resolv.conf" "$(link_of main /etc/resolv.conf)"

release=$(rootfs main /etc/image-customizer-release)
check_contains "release file: tool version" "$release" 'TOOL_VERSION="'
uuid=$(sed -n 's/^IMAGE_UUID="\(.*\)"$/\1/p' <<< "$release")
date=$(sed -n 's/^BUILD_DATE="\(.*\)"$/\1/p' <<< "$release")
check "release file: image uuid" grep -Eq '^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$' <<< "$uuid"
check "release file: build date" grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' <<< "$date"
check_eq "release file mode" "0644" "$(fs_mode "$T_TMP/main.raw" "$ROOT_OFFSET" /etc/image-customizer-release)"

hist=$(rootfs main /usr/share/image-customizer/history.json)
check "history.json is valid JSON with one entry" python3 -c '
import json, sys
h = json.loads(sys.argv[1])
assert isinstance(h, list) and len(h) == 1, h
e = h[0]
assert list(e)[:3] == ["timestamp", "toolVersion", "imageUuid"], list(e)
assert e["imageUuid"] == sys.argv[2] and e["timestamp"] == sys.argv[3], e
f = e["config"]["os"]["additionalFiles"][0]
assert f["sha256hash"] == sys.argv[4] and f["source"] == "files/data.txt", f
' "$hist" "$uuid" "$date" "$data_sha"

# --- 2. a second customization appends; imageHistory: none writes no entry ---
cp --sparse=always "$T_TMP/main.raw" "$T_TMP/again-in.raw"
BASE=$T_TMP/again-in.raw
if build again "os:
  hostname: again"; then t_pass "second build"; else t_fail "second build"; tail -20 "$T_TMP/again.log"; fi
uuid2=$(rootfs again /etc/image-customizer-release | sed -n 's/^IMAGE_UUID="\(.*\)"$/\1/p')
check "each build gets a new image uuid" test "$uuid" != "$uuid2"
check "history.json keeps the first entry and appends" python3 -c '
import json, sys
h = json.loads(sys.argv[1])
assert [e["imageUuid"] for e in h] == sys.argv[2:], h
' "$(rootfs again /usr/share/image-customizer/history.json)" "$uuid" "$uuid2"

BASE=$IMG_PATH
if build nohist "os:
  imageHistory: none"; then t_pass "build with imageHistory: none"; else t_fail "nohist"; tail -20 "$T_TMP/nohist.log"; fi
check_eq "no history.json with imageHistory: none" "" "$(rootfs nohist /usr/share/image-customizer/history.json)"
check_contains "release file still written" "$(rootfs nohist /etc/image-customizer-release)" "IMAGE_UUID="

# --- 3. SELinux: disabled sets the arguments; enabled without a policy fails ---
if build sedis "os:
  selinux:
    mode: disabled"; then t_pass "build with selinux disabled"; else t_fail "sedis"; tail -20 "$T_TMP/sedis.log"; fi
grubcfg=$(rootfs sedis /boot/grub/grub.cfg)
check_contains "grub.cfg has selinux=0" "$grubcfg" "ro quiet selinux=0"
check_contains "/etc/default/grub has selinux=0" "$(rootfs sedis /etc/default/grub)" 'GRUB_CMDLINE_LINUX="selinux=0"'
check_not_contains "no relabel when disabled" "$(cat "$T_TMP/sedis.log")" "selinux relabel"

if build seenf "os:
  selinux:
    mode: enforcing"; then
    t_fail "enforcing without a policy must fail"
else
    log=$(cat "$T_TMP/seenf.log")
    check_contains "missing policy: ALIC's error" "$log" "SELinux is enabled but policy file is missing (file='/etc/selinux/config')"
    check_contains "missing policy: hint" "$log" "please ensure an SELinux policy is installed"
    check_contains "missing policy: step named" "$log" "step 'selinux'"
    check "missing policy: no output written" test ! -e "$T_TMP/seenf.raw"
fi

# --- 4. installed-kernel check ---
if build nokernel "scripts:
  finalizeCustomization:
    - content: |
        rm -f /lib/modules/0/modules.dep"; then
    t_fail "removing every kernel must fail"
else
    log=$(cat "$T_TMP/nokernel.log")
    check_contains "kernel check: ALIC's error" "$log" "no installed kernel found"
    check_contains "kernel check: step named" "$log" "step 'kernel check'"
    check "kernel check: no output written" test ! -e "$T_TMP/nokernel.raw"
fi

# --- 5. resolv.conf as a regular file, and missing ---
if build mkfile "scripts:
  finalizeCustomization:
    - content: |
        rm -f /etc/resolv.conf && printf 'nameserver 192.0.2.53\n' > /etc/resolv.conf && chmod 0600 /etc/resolv.conf"; then
    t_pass "image with a regular resolv.conf"
else
    t_fail "mkfile"; tail -20 "$T_TMP/mkfile.log"
fi
BASE=$T_TMP/mkfile.raw
if build restorefile "os:
  hostname: r"; then t_pass "build over a regular resolv.conf"; else t_fail "restorefile"; tail -20 "$T_TMP/restorefile.log"; fi
check_eq "regular resolv.conf restored" "nameserver 192.0.2.53" "$(rootfs restorefile /etc/resolv.conf)"
check_eq "regular resolv.conf mode restored" "0600" "$(fs_mode "$T_TMP/restorefile.raw" "$ROOT_OFFSET" /etc/resolv.conf)"

BASE=$IMG_PATH
if build mknone "scripts:
  finalizeCustomization:
    - content: rm -f /etc/resolv.conf"; then t_pass "image without resolv.conf"; else t_fail "mknone"; fi
BASE=$T_TMP/mknone.raw
if build restorenone "scripts:
  postCustomization:
    - content: |
        cat /etc/resolv.conf > /etc/resolv-during-post"; then
    t_pass "build over a missing resolv.conf"
else
    t_fail "restorenone"; tail -20 "$T_TMP/restorenone.log"
fi
check_eq "missing resolv.conf: host's during the run" "$host_resolv" "$(rootfs restorenone /etc/resolv-during-post)"
check "missing resolv.conf stays missing (no systemd-resolved)" fs_absent "$T_TMP/restorenone.raw" "$ROOT_OFFSET" /etc/resolv.conf
t_done
