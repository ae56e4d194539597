#!/usr/bin/env bash
# os.additionalDirs on the tiny image: a host tree copied recursively with
# ALIC's permission rules (new directories, merged directories, child
# files), merged into existing directories, nested, sparse files kept
# sparse, and an image symlink to /tmp on the way resolved inside the image.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
BASE=$IMG_PATH

cfg=$T_TMP/cfg
mkdir -p "$cfg/tree/sub/deeper" "$cfg/other"
printf 'A\n' > "$cfg/tree/a.txt"
chmod 0600 "$cfg/tree/a.txt"
printf 'B\n' > "$cfg/tree/sub/b.txt"
printf '#!/bin/sh\n' > "$cfg/tree/sub/deeper/c.sh"
ln -s ../a.txt "$cfg/tree/sub/link-to-a"  # followed, as ALIC does
printf 'head' > "$cfg/other/sparse.bin"
truncate -s 40M "$cfg/other/sparse.bin"
printf 'tail' >> "$cfg/other/sparse.bin"
printf 'O\n' > "$cfg/other/o.txt"
marker=imgrecipe-dirs-escape-$$
rm -rf "/tmp/$marker"

cat > "$cfg/config.yaml" <<YAML
input: {image: {path: $BASE}}
os:
  additionalDirs:
    - source: tree
      destination: /opt/app/tree
    - source: other
      destination: /srv
      newDirPermissions: "0700"
      mergedDirPermissions: "0711"
      childFilePermissions: "0640"
    - source: tree
      destination: /etc
    - source: $cfg/other
      destination: /etc/evil/$marker
      newDirPermissions: 750
      childFilePermissions: 600
output: {image: {path: $T_TMP/out.raw, format: raw}}
YAML
"$IMGRECIPE" build "$cfg/config.yaml" --build-dir "$T_TMP/build" 2> "$T_TMP/log" \
    || { tail -30 "$T_TMP/log"; t_fail "build"; }
O=$T_TMP/out.raw
stat_of() { debugfs -R "stat $1" "$O?offset=$ROOT_OFFSET" 2>/dev/null; }

check_eq "nested file" "B" "$(fs_cat "$O" "$ROOT_OFFSET" /opt/app/tree/sub/b.txt)"
check_eq "deeper file" "#!/bin/sh" "$(fs_cat "$O" "$ROOT_OFFSET" /opt/app/tree/sub/deeper/c.sh)"
check_eq "source symlink copied as a file" "A" "$(fs_cat "$O" "$ROOT_OFFSET" /opt/app/tree/sub/link-to-a)"
check_contains "source symlink: a regular file" "$(stat_of /opt/app/tree/sub/link-to-a)" "Type: regular"
check_eq "default child file mode 0755 (source was 0600)" "0755" "$(fs_mode "$O" "$ROOT_OFFSET" /opt/app/tree/a.txt)"
check_eq "default new dir mode 0755" "0755" "$(fs_mode "$O" "$ROOT_OFFSET" /opt/app/tree/sub/deeper)"
check_eq "missing parents are new dirs" "0755" "$(fs_mode "$O" "$ROOT_OFFSET" /opt/app)"
check_eq "files owned by root" "0" "$(stat_of /opt/app/tree/a.txt | sed -n 's/.*User: *\([0-9]*\).*/\1/p')"

check_eq "merged dir gets mergedDirPermissions" "0711" "$(fs_mode "$O" "$ROOT_OFFSET" /srv)"
check_eq "childFilePermissions" "0640" "$(fs_mode "$O" "$ROOT_OFFSET" /srv/o.txt)"
sparse=$(stat_of /srv/sparse.bin)
check_contains "sparse file: full size" "$sparse" "Size: $((40 * 1024 * 1024 + 4))"
blocks=$(sed -n 's/.*Blockcount: *\([0-9]*\).*/\1/p' <<< "$sparse")
check "sparse file: holes kept ($blocks sectors)" test "$blocks" -lt 1000
check_eq "sparse file: data at both ends" "headtail" \
    "$(fs_cat "$O" "$ROOT_OFFSET" /srv/sparse.bin | tr -d '\0')"

check_eq "merged into /etc" "A" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/a.txt)"
check_eq "existing files of the merged dir kept" "tiny" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/hostname)"
check_eq "merged dir mode kept without mergedDirPermissions" "0755" "$(fs_mode "$O" "$ROOT_OFFSET" /etc)"

check "nothing written to the host's /tmp" test ! -e "/tmp/$marker"
check_eq "destination under /etc/evil -> /tmp lands in the image's /tmp" "O" \
    "$(fs_cat "$O" "$ROOT_OFFSET" "/tmp/$marker/o.txt")"
check_eq "unquoted octal modes (newDirPermissions: 750)" "0750" "$(fs_mode "$O" "$ROOT_OFFSET" "/tmp/$marker")"
check_eq "unquoted octal modes (childFilePermissions: 600)" "0600" "$(fs_mode "$O" "$ROOT_OFFSET" "/tmp/$marker/o.txt")"
check_eq "the link itself kept" "/tmp" "$(stat_of /etc/evil | sed -n 's/^Fast link dest: "\(.*\)"/\1/p')"
check "root fs clean" e2fsck -fn "$O?offset=$ROOT_OFFSET" >/dev/null 2>&1

# A destination that is a file, and a missing source, fail naming both paths.
cat > "$cfg/bad.yaml" <<YAML
input: {image: {path: $BASE}}
os:
  additionalDirs:
    - {source: tree, destination: /etc/hostname}
output: {image: {path: $T_TMP/bad.raw, format: raw}}
YAML
set +e
msg=$("$IMGRECIPE" build "$cfg/bad.yaml" --build-dir "$T_TMP/build" 2>&1)
rc=$?
set -e
check "file destination fails" test "$rc" -ne 0
check_contains "file destination: message" "$msg" \
    "step 'additional dirs': failed to copy directory (source='$cfg/tree', destination='/etc/hostname'): destination '/etc/hostname' exists in the image but is not a directory"
sed -i 's|source: tree|source: nosuchdir|' "$cfg/bad.yaml"
set +e
msg=$("$IMGRECIPE" build "$cfg/bad.yaml" --build-dir "$T_TMP/build" 2>&1)
set -e
check_contains "missing source: message" "$msg" "source directory '$cfg/nosuchdir' does not exist"
check "no output for failed builds" test ! -e "$T_TMP/bad.raw"
t_done
