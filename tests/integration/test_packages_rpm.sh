#!/usr/bin/env bash
# os.packages through the dnf code path (auto-detected) on the debian-rpm
# image (Debian's dnf and rpm, rpmdb at /var/lib/rpm): self-built noarch
# RPMs from a directory source and a .repo file source (file+rel://), with
# the image's repositories disabled; install, remove, update v1 -> v2; the
# rpm database is read back offline (debugfs rdump + rpm --dbpath). Then
# removePackageManager removes the installed manager packages (a test RPM
# named tdnf stands in: Debian's dnf/rpm are dpkg packages) and the
# rpm/dnf databases and caches. Last, the image's own repositories: an image
# carrying a repository at /srv/baserepo and /etc/yum.repos.d/base-local.repo
# (file://) installs from it with no --rpm-source, leaving /etc/yum.repos.d as
# it was; with --disable-base-image-rpm-repos it is not used.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-rpm
BASE=$IMG_PATH
O=$ROOT_OFFSET
BD=$T_TMP/build
cp --sparse=always "$BASE" "$T_TMP/in.raw"
chmod u+w "$T_TMP/in.raw"

# mkrpm NAME VERSION DIR: a noarch RPM holding /usr/share/irtest/NAME.
mkrpm() {
    local top
    top=$(mktemp -d "$T_TMP/rpm.XXXXXX")
    mkdir -p "$top/SPECS"
    cat >"$top/SPECS/$1.spec" <<SPEC
Name: $1
Version: $2
Release: 1
Summary: imgrecipe test package
License: MIT
BuildArch: noarch
AutoReqProv: no
%description
imgrecipe test package
%install
mkdir -p %{buildroot}/usr/share/irtest
echo "$1 $2" > %{buildroot}/usr/share/irtest/$1
%files
/usr/share/irtest/$1
SPEC
    rpmbuild -bb --define "_topdir $top" --define "_rpmdir $3" --define "_dbpath $top/db" \
        --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" "$top/SPECS/$1.spec" \
        >"$top/log" 2>&1 || { cat "$top/log" >&2; return 1; }
    rm -rf "$top"
}
mkdir -p "$T_TMP/rpms1" "$T_TMP/cfg/repo2"
mkrpm irtest-a 1.0 "$T_TMP/rpms1"
mkrpm irtest-b 1.0 "$T_TMP/rpms1"
mkrpm tdnf 0.1 "$T_TMP/rpms1"
mkrpm irtest-b 2.0 "$T_TMP/cfg/repo2"
mkrpm irtest-c 1.0 "$T_TMP/cfg/repo2"
createrepo_c --quiet "$T_TMP/cfg/repo2"   # a .repo file names a real repository
before1=$(dir_listing "$T_TMP/rpms1")
before2=$(dir_listing "$T_TMP/cfg/repo2")

# rpmdb RAW -> sorted NAME-VERSION of the image's rpm database at /var/lib/rpm.
rpmdb() {
    local d
    d=$(mktemp -d "$T_TMP/db.XXXXXX")
    debugfs -R "rdump /var/lib/rpm $d" "$1?offset=$O" 2>/dev/null
    rpm --dbpath "$d/rpm" -qa --qf '%{NAME}-%{VERSION}\n' | sort | tr '\n' ' '
    rm -rf "$d"
}
no_leftovers() {
    check "$2: no /_localrpms in the image" fs_lacks "$1" "$O" / _localrpms
    local cached
    cached=$(debugfs -R 'ls -p /var/cache/dnf' "$1?offset=$O" 2>/dev/null | grep -c '\.rpm/\|\.solv/\|repomd' || true)
    check_eq "$2: dnf cache cleaned" "0" "$cached"
}

# --- 1: directory source ------------------------------------------------------
cat >"$T_TMP/cfg/install.yaml" <<'YAML'
os:
  packages:
    install: [irtest-a, irtest-b, tdnf]
YAML
out1=$T_TMP/out1.raw
if "$IMGRECIPE" build "$T_TMP/cfg/install.yaml" --image-file "$T_TMP/in.raw" --output-image-file "$out1" \
    --output-image-format raw --rpm-source "$T_TMP/rpms1" --disable-base-image-rpm-repos --build-dir "$BD" \
    >"$T_TMP/log1" 2>&1; then t_pass "build 1 (RPM directory source)"; else t_fail "build 1 failed: $(tail -20 "$T_TMP/log1")"; fi
check_contains "dnf detected" "$(cat "$T_TMP/log1")" "package manager: dnf"
check_eq "rpm db after install" "irtest-a-1.0 irtest-b-1.0 tdnf-0.1 " "$(rpmdb "$out1")"
check_eq "irtest-a's file" "irtest-a 1.0" "$(fs_cat "$out1" "$O" /usr/share/irtest/irtest-a)"
check_eq "the RPM directory is unchanged (no repodata written)" "$before1" "$(dir_listing "$T_TMP/rpms1")"
check_contains "directory source: GPG checks off" "$(cat "$T_TMP/log1")" "local repository, GPG checks off"
no_leftovers "$out1" "build 1"

# --- 2: .repo file source (file+rel://) and a directory: remove, update -------
cat >"$T_TMP/cfg/local.repo" <<'REPO'
[irtest-repo2]
name=imgrecipe test repository
baseurl=file+rel://repo2
gpgcheck=0
REPO
printf 'packages: [irtest-c]\n' >"$T_TMP/cfg/install-list.yaml"
cat >"$T_TMP/cfg/change.yaml" <<'YAML'
os:
  packages:
    remove: [irtest-a]
    installLists: [install-list.yaml]
    update: [irtest-b]
YAML
out2=$T_TMP/out2.raw
if "$IMGRECIPE" build "$T_TMP/cfg/change.yaml" --image-file "$out1" --output-image-file "$out2" \
    --output-image-format raw --rpm-source "$T_TMP/cfg/local.repo" --rpm-source "$T_TMP/rpms1" \
    --disable-base-image-rpm-repos --build-dir "$BD" >"$T_TMP/log2" 2>&1; then
    t_pass "build 2 (.repo file source)"; else t_fail "build 2 failed: $(tail -20 "$T_TMP/log2")"; fi
check_eq "rpm db after remove/install/update" "irtest-b-2.0 irtest-c-1.0 tdnf-0.1 " "$(rpmdb "$out2")"
check_eq "irtest-b's file is v2" "irtest-b 2.0" "$(fs_cat "$out2" "$O" /usr/share/irtest/irtest-b)"
check_eq "irtest-a's file gone" "" "$(fs_cat "$out2" "$O" /usr/share/irtest/irtest-a)"
check "order: remove before install before update" awk '/removing packages/{r=NR} /installing packages/{i=NR} /updating packages/{u=NR} END{exit !(r && i && u && r<i && i<u)}' "$T_TMP/log2"
check_eq "the .repo's repository is unchanged" "$before2" "$(dir_listing "$T_TMP/cfg/repo2")"
no_leftovers "$out2" "build 2"

# --- errors -------------------------------------------------------------------
rc=0
"$IMGRECIPE" build "$T_TMP/cfg/install.yaml" --image-file "$T_TMP/in.raw" --output-image-file "$T_TMP/x.raw" \
    --output-image-format raw --disable-base-image-rpm-repos --build-dir "$BD" >"$T_TMP/loge" 2>&1 || rc=$?
check_eq "no RPM sources: usage error (ALIC's ErrNoRpmSourcesSpecified)" 2 "$rc"
check_contains "no RPM sources: says so" "$(cat "$T_TMP/loge")" "no package sources were specified"
rc=0
"$IMGRECIPE" build "$T_TMP/cfg/install.yaml" --image-file "$T_TMP/in.raw" --output-image-file "$T_TMP/x.raw" \
    --output-image-format raw --rpm-source "$T_TMP/cfg/install-list.yaml" --build-dir "$BD" >"$T_TMP/loge" 2>&1 || rc=$?
check_eq "a source that is neither a directory nor .repo: usage error" 2 "$rc"
check_contains "bad source: named" "$(cat "$T_TMP/loge")" "install-list.yaml': must be a directory or a .repo file"
printf '[broken]\nbaseurl=file+rel://missing-dir\n' >"$T_TMP/cfg/broken.repo"
rc=0
"$IMGRECIPE" build "$T_TMP/cfg/install.yaml" --image-file "$T_TMP/in.raw" --output-image-file "$T_TMP/x.raw" \
    --output-image-format raw --rpm-source "$T_TMP/cfg/broken.repo" --disable-base-image-rpm-repos \
    --build-dir "$BD" >"$T_TMP/loge" 2>&1 || rc=$?
check_eq "a .repo naming a missing directory fails" 1 "$rc"
check_contains "missing repo dir: named" "$(cat "$T_TMP/loge")" "missing-dir"

# --- 3: removePackageManager ----------------------------------------------------
cat >"$T_TMP/cfg/rmpm.yaml" <<'YAML'
previewFeatures: [remove-package-manager]
os:
  packages:
    removePackageManager: true
YAML
out3=$T_TMP/out3.raw
if "$IMGRECIPE" build "$T_TMP/cfg/rmpm.yaml" --image-file "$out2" --output-image-file "$out3" \
    --output-image-format raw --build-dir "$BD" >"$T_TMP/log3" 2>&1; then
    t_pass "build 3 (removePackageManager)"; else t_fail "build 3 failed: $(tail -20 "$T_TMP/log3")"; fi
check_contains "the installed manager package was removed with dnf" "$(cat "$T_TMP/log3")" "removing the package manager: tdnf"
check_eq "tdnf's file gone" "" "$(fs_cat "$out3" "$O" /usr/share/irtest/tdnf)"
for d in /var/lib/rpm /var/lib/dnf /var/cache/dnf; do
    check "$d removed" fs_absent "$out3" "$O" "$d"
done
# --- 4: the image's own repositories (/etc/yum.repos.d) ---------------------------
# An image whose repository lives inside it: RPMs + createrepo_c metadata at
# /srv/baserepo and /etc/yum.repos.d/base-local.repo naming it (file://, a path
# in the image). irtest-img is in no other source.
mkdir -p "$T_TMP/img/srv/baserepo" "$T_TMP/img/yum.repos.d"
mkrpm irtest-img 1.0 "$T_TMP/img/srv/baserepo"
createrepo_c --quiet "$T_TMP/img/srv/baserepo"
cat >"$T_TMP/img/yum.repos.d/base-local.repo" <<'REPO'
[base-local]
name=imgrecipe test: the image's own repository
baseurl=file:///srv/baserepo
gpgcheck=0
enabled=1
REPO
cat >"$T_TMP/cfg/baserepo.yaml" <<YAML
os:
  additionalDirs:
    - source: $T_TMP/img/srv/baserepo
      destination: /srv/baserepo
      childFilePermissions: "644"
    - source: $T_TMP/img/yum.repos.d
      destination: /etc/yum.repos.d
      childFilePermissions: "644"
YAML
in4=$T_TMP/in4.raw
if "$IMGRECIPE" build "$T_TMP/cfg/baserepo.yaml" --image-file "$T_TMP/in.raw" --output-image-file "$in4" \
    --output-image-format raw --build-dir "$BD" >"$T_TMP/log4p" 2>&1; then
    t_pass "build 4 prep (image with its own repository)"; else t_fail "build 4 prep failed: $(tail -20 "$T_TMP/log4p")"; fi
# yumrepos RAW -> listing (mode, owner, size, name) and content of the image's /etc/yum.repos.d.
yumrepos() {
    debugfs -R 'ls -l /etc/yum.repos.d' "$1?offset=$O" 2>/dev/null | awk '{print $2, $3, $4, $5, $NF}' | sort
    fs_cat "$1" "$O" /etc/yum.repos.d/base-local.repo
}
yum_before=$(yumrepos "$in4")
check_contains "prep: the image's .repo is in place" "$yum_before" "baseurl=file:///srv/baserepo"
cat >"$T_TMP/cfg/install-img.yaml" <<'YAML'
os:
  packages:
    install: [irtest-img]
YAML
out4=$T_TMP/out4.raw
if "$IMGRECIPE" build "$T_TMP/cfg/install-img.yaml" --image-file "$in4" --output-image-file "$out4" \
    --output-image-format raw --build-dir "$BD" >"$T_TMP/log4" 2>&1; then
    t_pass "build 4 (the image's repository, no --rpm-source)"; else t_fail "build 4 failed: $(tail -20 "$T_TMP/log4")"; fi
check_eq "rpm db: installed from the image's repository" "irtest-img-1.0 " "$(rpmdb "$out4")"
check "dnf took irtest-img from the image's repository (base-local)" grep -q 'irtest-img .*base-local' "$T_TMP/log4"
check_eq "irtest-img's file" "irtest-img 1.0" "$(fs_cat "$out4" "$O" /usr/share/irtest/irtest-img)"
check_eq "the image's /etc/yum.repos.d is unchanged" "$yum_before" "$(yumrepos "$out4")"
no_leftovers "$out4" "build 4"
rc=0
"$IMGRECIPE" build "$T_TMP/cfg/install-img.yaml" --image-file "$in4" --output-image-file "$T_TMP/x.raw" \
    --output-image-format raw --disable-base-image-rpm-repos --build-dir "$BD" >"$T_TMP/loge" 2>&1 || rc=$?
check_eq "image repository disabled, no source: usage error" 2 "$rc"
check_contains "image repository disabled, no source: says so" "$(cat "$T_TMP/loge")" "no package sources were specified"
rc=0
"$IMGRECIPE" build "$T_TMP/cfg/install-img.yaml" --image-file "$in4" --output-image-file "$T_TMP/x.raw" \
    --output-image-format raw --disable-base-image-rpm-repos --rpm-source "$T_TMP/rpms1" \
    --build-dir "$BD" >"$T_TMP/loge" 2>&1 || rc=$?
check_eq "image repository disabled, a source without the package: fails" 1 "$rc"
check_contains "the missing package is named by dnf" "$(cat "$T_TMP/loge")" "No match for argument: irtest-img"
check_not_contains "disabled: the image's repository is not read" "$(cat "$T_TMP/loge")" "the image's own repository"

check "input image unchanged by the builds" cmp -s "$BASE" "$T_TMP/in.raw"

t_done
