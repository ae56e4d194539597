#!/usr/bin/env bash
# Issue 11 §2: commands in the image see the image's hostname (their own UTS
# namespace, named from the image's /etc/hostname; "localhost" without one),
# never the build host's; img:run on an image mounted read-only fails with a
# clear error (not EROFS from a file the sandbox writes); img:reset_bootloader
# keeps the arguments of the image's /etc/default/grub (not its SELinux ones)
# unless keep_args = false, while the YAML `resetType: hard-reset` keeps
# ALIC's semantics (the template's arguments only).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

report=$T_TMP/report
set +e
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/chroot-behaviour.lua" --build-dir "$T_TMP/b" \
    --param input="$IMG_PATH" --param output="$T_TMP/lua.raw" --param report="$report" 2> "$T_TMP/run.log"
rc=$?
set -e
check_eq "recipe succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/run.log"; t_done; exit 1; }
fact() { sed -n "s/^$1=//p" "$report"; }
image_host=$(fact image-hostname)
check "the image has a hostname that is not the build host's" test -n "$image_host" -a "$image_host" != "$(hostname)"
check_eq "hostname in the image: the image's" "$image_host" "$(fact run-hostname)"
check_eq "uname -n in the image: the image's" "$image_host" "$(fact run-uname-n)"
check_eq "after set_hostname: the new name" "changed-in-recipe" "$(fact run-after-set)"
check_eq "without /etc/hostname: localhost" "localhost" "$(fact run-without-file)"
check_eq "the build host's hostname is unchanged" "$(cat /proc/sys/kernel/hostname)" "$(hostname)"

kept=$(fact kept-args)
check_contains "reset_bootloader keeps GRUB_CMDLINE_LINUX" "$kept" "imgrecipe.linux=1"
check_contains "reset_bootloader keeps GRUB_CMDLINE_LINUX_DEFAULT" "$kept" "imgrecipe.kept=1"
check_contains "reset_bootloader adds the new arguments" "$kept" "imgrecipe.new=1"
check_not_contains "the old SELinux arguments are not kept (the mode decides)" "$kept" "enforcing=1"
check_eq "kept, then new, no duplicate" "quiet imgrecipe.kept=1 imgrecipe.new=1" "$(fact kept-default-grub)"
reset=$(fact reset-args)
check_contains "keep_args = false: new arguments" "$reset" "imgrecipe.new=1"
check_not_contains "keep_args = false: old arguments dropped" "$reset" "imgrecipe.kept=1"

ro_run=$(fact ro-run)
check_contains "img:run on a read-only image: clear error" "$ro_run" \
    "cannot run 'true' in the image: it is mounted read-only"
check_not_contains "img:run on a read-only image: not a bare EROFS" "$ro_run" "Read-only file system"
check_contains "run_script on a read-only image: clear error" "$(fact ro-script)" "read-only"

# The YAML hard reset drops the image's own arguments (ALIC).
cat > "$T_TMP/reset.yaml" <<'YAML'
os:
  bootloader:
    resetType: hard-reset
  kernelCommandLine:
    extraCommandLine: [imgrecipe.yaml=1]
YAML
set +e
"$IMGRECIPE" build "$T_TMP/reset.yaml" --image-file "$T_TMP/lua.raw" --output-image-file "$T_TMP/yaml.raw" \
    --output-image-format raw --build-dir "$T_TMP/b2" 2> "$T_TMP/yaml.log"
rc=$?
set -e
check_eq "YAML hard reset succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/yaml.log"
cfg=$(fs_cat "$T_TMP/yaml.raw" "$ROOT_OFFSET" /boot/grub/grub.cfg)
check_contains "YAML hard reset: its argument" "$cfg" "imgrecipe.yaml=1"
check_not_contains "YAML hard reset: the image's own arguments dropped (ALIC)" "$cfg" "imgrecipe.kept=1"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
t_done
