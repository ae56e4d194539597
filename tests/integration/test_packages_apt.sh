#!/usr/bin/env bash
# os.packages with apt-get on the debian-base image: self-built .debs from
# local directories with the image's repositories disabled (no network):
# install, then remove/update/install through list files; nothing of the
# sources, package lists or downloads stays in the image. Then one install
# from the image's own repository (the build machine's apt mirror) together with
# removePackageManager. Everything is read back offline with debugfs.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
BASE=$IMG_PATH
O=$ROOT_OFFSET
BD=$T_TMP/build
cp --sparse=always "$BASE" "$T_TMP/in.raw"
chmod u+w "$T_TMP/in.raw"

# mkdeb NAME VERSION DIR: a tiny arch-all package holding /usr/share/NAME/version.
mkdeb() {
    local d
    d=$(mktemp -d "$T_TMP/deb.XXXXXX")
    mkdir -p "$d/DEBIAN" "$d/usr/share/$1"
    printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: imgrecipe tests <t@example.invalid>\nDescription: imgrecipe test package\n' \
        "$1" "$2" >"$d/DEBIAN/control"
    echo "$1 $2" >"$d/usr/share/$1/version"
    # A conffile: apt's `remove` would leave it (and an "rc" entry) behind.
    mkdir -p "$d/etc"
    echo "setting=$2" >"$d/etc/$1.conf"
    echo "/etc/$1.conf" >"$d/DEBIAN/conffiles"
    dpkg-deb --root-owner-group -b "$d" "$3/$1_$2_all.deb" >/dev/null
    rm -rf "$d"
}
mkdir -p "$T_TMP/debs1" "$T_TMP/debs2" "$T_TMP/cfg"
mkdeb irtest-a 1.0 "$T_TMP/debs1"
mkdeb irtest-b 1.0 "$T_TMP/debs1"
mkdeb irtest-b 2.0 "$T_TMP/debs2"
mkdeb irtest-c 1.0 "$T_TMP/debs2"
before1=$(dir_listing "$T_TMP/debs1")
before2=$(dir_listing "$T_TMP/debs2")

status() { fs_cat "$1" "$O" /var/lib/dpkg/status; }
# pkg_field RAW PACKAGE FIELD -> the field of the package's dpkg status stanza.
pkg_field() {
    status "$1" | awk -v p="$2" -v f="$3:" '/^Package: /{cur=$2} cur==p && $1==f && !done {sub(/^[^:]*: /,""); print; done=1}'
}
no_leftovers() {  # no_leftovers RAW LABEL
    local lists archives cache
    check "$2: no /_localdebs in the image" fs_lacks "$1" "$O" / _localdebs
    lists=$(debugfs -R 'ls -p /var/lib/apt/lists' "$1?offset=$O" 2>/dev/null | awk -F/ '$6 != "." && $6 != ".." && $6 != "partial" && $6 != "lock" && $6 != "" {print $6}')
    check_eq "$2: no package lists left in the image" "" "$lists"
    archives=$(debugfs -R 'ls -p /var/cache/apt/archives' "$1?offset=$O" 2>/dev/null | grep -c '\.deb/' || true)
    check_eq "$2: no downloaded .debs left" "0" "$archives"
    cache=$(debugfs -R 'ls -p /var/cache/apt' "$1?offset=$O" 2>/dev/null | grep -c '\.bin/' || true)
    check_eq "$2: no apt binary caches left" "0" "$cache"
    check_eq "$2: dpkg.log truncated" "" "$(fs_cat "$1" "$O" /var/log/dpkg.log)"
}

# --- 1: install two packages from a local directory, offline ---------------
cat >"$T_TMP/cfg/install.yaml" <<'YAML'
os:
  packages:
    install: [irtest-a, irtest-b]
YAML
out1=$T_TMP/out1.raw
if "$IMGRECIPE" build "$T_TMP/cfg/install.yaml" --image-file "$T_TMP/in.raw" --output-image-file "$out1" \
    --output-image-format raw --deb-source "$T_TMP/debs1" --disable-base-image-deb-repos --build-dir "$BD" \
    >"$T_TMP/log1" 2>&1; then t_pass "build 1 (install from a .deb directory)"; else
    t_fail "build 1 failed: $(tail -20 "$T_TMP/log1")"; fi
check_eq "irtest-a installed" "install ok installed" "$(pkg_field "$out1" irtest-a Status)"
check_eq "irtest-b installed at 1.0" "1.0" "$(pkg_field "$out1" irtest-b Version)"
check_eq "irtest-a's file" "irtest-a 1.0" "$(fs_cat "$out1" "$O" /usr/share/irtest-a/version)"
check_eq "the source directory is unchanged" "$before1" "$(dir_listing "$T_TMP/debs1")"
check_contains "refresh ran (apt-get update)" "$(cat "$T_TMP/log1")" "refreshing package metadata"
no_leftovers "$out1" "build 1"

# --- 2: on that output: removeLists, update to v2, installLists --------------
printf 'packages:\n  - irtest-a\n' >"$T_TMP/cfg/remove-list.yaml"
printf 'packages: [irtest-c]\n' >"$T_TMP/cfg/install-list.yaml"
cat >"$T_TMP/cfg/change.yaml" <<'YAML'
os:
  packages:
    removeLists: [remove-list.yaml]
    installLists: [install-list.yaml]
    update: [irtest-b]
YAML
out2=$T_TMP/out2.raw
if "$IMGRECIPE" build "$T_TMP/cfg/change.yaml" --image-file "$out1" --output-image-file "$out2" \
    --output-image-format raw --deb-source "$T_TMP/debs1" --deb-source "$T_TMP/debs2" \
    --disable-base-image-deb-repos --build-dir "$BD" >"$T_TMP/log2" 2>&1; then
    t_pass "build 2 (remove, install, update from two sources)"; else t_fail "build 2 failed: $(tail -20 "$T_TMP/log2")"; fi
check_eq "irtest-a removed" "" "$(pkg_field "$out2" irtest-a Status | grep 'install ok installed' || true)"
check_eq "irtest-a's file gone" "" "$(fs_cat "$out2" "$O" /usr/share/irtest-a/version)"
check_eq "irtest-a purged: no dpkg entry left (no rc state)" "" "$(pkg_field "$out2" irtest-a Status)"
check "irtest-a's conffile purged" fs_absent "$out2" "$O" /etc/irtest-a.conf
check_eq "irtest-b's conffile kept" "setting=2.0" "$(fs_cat "$out2" "$O" /etc/irtest-b.conf)"
check_eq "irtest-b updated to 2.0" "2.0" "$(pkg_field "$out2" irtest-b Version)"
check_eq "irtest-b's new file" "irtest-b 2.0" "$(fs_cat "$out2" "$O" /usr/share/irtest-b/version)"
check_eq "irtest-c installed from the list" "install ok installed" "$(pkg_field "$out2" irtest-c Status)"
check "order: remove before install before update" awk '/removing packages/{r=NR} /installing packages/{i=NR} /updating packages/{u=NR} END{exit !(r && i && u && r<i && i<u)}' "$T_TMP/log2"
check_eq "second source directory unchanged" "$before2" "$(dir_listing "$T_TMP/debs2")"
no_leftovers "$out2" "build 2"

# The Lua API on the same output, with a repeated (list) parameter.
if "$IMGRECIPE" run "$(dirname "$0")/recipes/packages-query.lua" --param input="$out2" --param report="$T_TMP/q" \
    --param name=irtest-a --param name=irtest-b --param name=irtest-c --build-dir "$BD" >"$T_TMP/logq" 2>&1; then
    check_eq "Lua: manager and installed packages" $'manager=apt-get\nirtest-a=false\nirtest-b=true\nirtest-c=true' "$(cat "$T_TMP/q")"
else t_fail "Lua query failed: $(tail -20 "$T_TMP/logq")"; fi

# --- errors -----------------------------------------------------------------
rc=0
"$IMGRECIPE" build "$T_TMP/cfg/install.yaml" --image-file "$T_TMP/in.raw" --output-image-file "$T_TMP/x.raw" \
    --output-image-format raw --disable-base-image-deb-repos --build-dir "$BD" >"$T_TMP/loge" 2>&1 || rc=$?
check_eq "no sources at all: usage error" 2 "$rc"
check_contains "no sources: says so" "$(cat "$T_TMP/loge")" "no package sources were specified"
check "no sources: no output" test ! -e "$T_TMP/x.raw"
rc=0
"$IMGRECIPE" build "$T_TMP/cfg/install.yaml" --image-file "$T_TMP/in.raw" --output-image-file "$T_TMP/x.raw" \
    --output-image-format raw --rpm-source "$T_TMP/debs1" --build-dir "$BD" >"$T_TMP/loge" 2>&1 || rc=$?
check_eq "--rpm-source on an apt image: usage error" 2 "$rc"
check_contains "--rpm-source on an apt image: says so" "$(cat "$T_TMP/loge")" "the image uses apt-get"
rc=0
"$IMGRECIPE" build "$T_TMP/cfg/install.yaml" --image-file "$T_TMP/in.raw" --output-image-file "$T_TMP/x.raw" \
    --output-image-format raw --rpm-source "$T_TMP/debs1" --disable-base-image-rpm-repos --build-dir "$BD" \
    --package-manager dnf >"$T_TMP/loge" 2>&1 || rc=$?
check_eq "forced manager missing from the image fails" 1 "$rc"
check_contains "failure names the step and command" "$(cat "$T_TMP/loge")" "step 'packages': command \`dnf"

# --- 3: the image's own repository (network) + removePackageManager -----------
cat >"$T_TMP/cfg/network.yaml" <<'YAML'
previewFeatures: [remove-package-manager]
os:
  packages:
    install: [tree]
    removePackageManager: true
YAML
out3=$T_TMP/out3.raw
if "$IMGRECIPE" build "$T_TMP/cfg/network.yaml" --image-file "$T_TMP/in.raw" --output-image-file "$out3" \
    --output-image-format raw --build-dir "$BD" >"$T_TMP/log3" 2>&1; then
    t_pass "build 3 (image repository, remove package manager)"; else t_fail "build 3 failed: $(tail -20 "$T_TMP/log3")"; fi
check_eq "tree installed from the image's own repository" "install ok installed" "$(pkg_field "$out3" tree Status)"
check "tree's binary present" sh -c "debugfs -R 'stat /usr/bin/tree' '$out3?offset=$O' 2>/dev/null | grep -q 'Type: regular'"
check "apt purged" test -z "$(pkg_field "$out3" apt Status | grep 'install ok installed' || true)"
check "apt-get is gone" fs_absent "$out3" "$O" /usr/bin/apt-get
check "/var/lib/apt removed" fs_absent "$out3" "$O" /var/lib/apt
check "/var/cache/apt removed" fs_absent "$out3" "$O" /var/cache/apt
check "dpkg kept" test "$(pkg_field "$out3" dpkg Status)" = "install ok installed"
check "build 3: no /_localdebs" fs_lacks "$out3" "$O" / _localdebs
check "input image unchanged by the builds" cmp -s "$BASE" "$T_TMP/in.raw"

t_done
