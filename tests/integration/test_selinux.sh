#!/usr/bin/env bash
# os.selinux on Debian with a real policy: selinux-policy-default and
# policycoreutils are installed into a copy of the base image (apt-get in the
# image, network needed), then: permissive (kernel arguments, config, every
# file labelled with the image's setfiles, also directories hidden under mount
# points), force-enforcing with a bootloader hard-reset, an unset mode that
# keeps the image's (still relabelled) and disabled (no relabel).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/install-packages.lua" --build-dir "$T_TMP/build" \
    --param input="$IMG_PATH" --param output="$T_TMP/policy.raw" \
    --param packages="selinux-policy-default policycoreutils" > "$T_TMP/install.log" 2>&1 \
    || { tail -30 "$T_TMP/install.log"; t_fail "installing the SELinux policy into the image"; t_done; }

# build NAME INPUT OS_YAML -> $T_TMP/NAME.raw, log in $T_TMP/NAME.log
build() {
    cat > "$T_TMP/$1.yaml" <<YAML
input:
  image:
    path: $2
os:
$3
  additionalFiles:
    - destination: /etc/added-by-$1
      content: "x"
output:
  image:
    path: $T_TMP/$1.raw
    format: raw
YAML
    "$IMGRECIPE" build "$T_TMP/$1.yaml" --build-dir "$T_TMP/build" > "$T_TMP/$1.log" 2>&1
}
label() { debugfs -R "ea_get -V $2 security.selinux" "$T_TMP/$1.raw?offset=$ROOT_OFFSET" 2>/dev/null | tr -d ' \0'; }
rootfs() { fs_cat "$T_TMP/$1.raw" "$ROOT_OFFSET" "$2"; }
# Reads all of grub.cfg: an early-exiting reader (grep -m1) would let debugfs die
# of SIGPIPE, and pipefail turns that into a failed assignment.
kernel_line() { rootfs "$1" /boot/grub/grub.cfg | grep -P '^\s*linux\t' | sed -n 1p; }

# --- permissive ---
if build perm "$T_TMP/policy.raw" "  selinux:
    mode: permissive"; then t_pass "permissive build"; else t_fail "permissive build"; tail -30 "$T_TMP/perm.log"; t_done; fi
check_contains "permissive: kernel arguments" "$(kernel_line perm)" "console=ttyS0,115200n8 security=selinux selinux=1"
check_contains "permissive: GRUB_CMDLINE_LINUX" "$(rootfs perm /etc/default/grub)" 'GRUB_CMDLINE_LINUX="console=ttyS0,115200n8 security=selinux selinux=1"'
check "permissive: SELINUX=permissive" grep -qx "SELINUX=permissive" <<< "$(rootfs perm /etc/selinux/config)"
check_contains "permissive: relabel step ran" "$(cat "$T_TMP/perm.log")" "[selinux relabel]"
check_eq "label: /usr/bin/ls" "system_u:object_r:bin_t:s0" "$(label perm /usr/bin/ls)"
check_eq "label: /etc/shadow" "system_u:object_r:shadow_t:s0" "$(label perm /etc/shadow)"
check_eq "label: file added by the build" "system_u:object_r:etc_t:s0" "$(label perm /etc/added-by-perm)"
check_eq "label: root directory" "system_u:object_r:root_t:s0" "$(label perm /)"
# /boot/efi is a directory of the root fs hidden under the ESP mount during the build.
check "label: mount point under the ESP mount" test -n "$(label perm /boot/efi)"
check "no relabel bind directory left" fs_absent "$T_TMP/perm.raw" "$ROOT_OFFSET" /.imgrecipe-relabel

# --- force-enforcing with a bootloader hard-reset ---
if build force "$T_TMP/policy.raw" "  selinux:
    mode: force-enforcing
  bootloader:
    resetType: hard-reset
  kernelCommandLine:
    extraCommandLine:
      - console=ttyS0,115200n8"; then t_pass "force-enforcing + hard-reset build"; else t_fail "force build"; tail -30 "$T_TMP/force.log"; fi
check_contains "force-enforcing: template arguments" "$(rootfs force /etc/default/grub)" 'GRUB_CMDLINE_LINUX="security=selinux selinux=1 enforcing=1"'
check_contains "force-enforcing: regenerated kernel line" "$(kernel_line force)" "ro security=selinux selinux=1 enforcing=1 console=ttyS0,115200n8"
check "force-enforcing: SELINUX=enforcing" grep -qx "SELINUX=enforcing" <<< "$(rootfs force /etc/selinux/config)"
check_eq "force-enforcing: labelled" "system_u:object_r:etc_t:s0" "$(label force /etc/added-by-force)"

# --- unset mode keeps the image's (permissive from the previous build): still relabelled ---
if build keep "$T_TMP/perm.raw" "  hostname: kept"; then t_pass "build without selinux.mode"; else t_fail "keep build"; tail -30 "$T_TMP/keep.log"; fi
check "unset mode: SELINUX unchanged" grep -qx "SELINUX=permissive" <<< "$(rootfs keep /etc/selinux/config)"
check_eq "unset mode on an enabled image: new file labelled" "system_u:object_r:etc_t:s0" "$(label keep /etc/added-by-keep)"

# --- disabled: arguments replaced, no relabel ---
if build dis "$T_TMP/perm.raw" "  selinux:
    mode: disabled"; then t_pass "disabled build"; else t_fail "disabled build"; tail -30 "$T_TMP/dis.log"; fi
line=$(kernel_line dis)
check_contains "disabled: selinux=0" "$line" "console=ttyS0,115200n8 selinux=0"
check_not_contains "disabled: old arguments removed" "$line" "security=selinux"
check "disabled: SELINUX=disabled" grep -qx "SELINUX=disabled" <<< "$(rootfs dis /etc/selinux/config)"
check_not_contains "disabled: no relabel" "$(cat "$T_TMP/dis.log")" "[selinux relabel]"
check_eq "disabled: new file not labelled" "" "$(label dis /etc/added-by-dis)"
t_done
