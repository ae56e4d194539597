#!/usr/bin/env bash
# Existing-verity images, booted (issue 10 §2-3, alic-reference §4.7):
# 1. the root-verity image of tests/lib/verity_layout.sh is customized again
#    with storage.reinitializeVerity: all and OS changes on the hashed root
#    (a file in /etc, cryptsetup-bin installed): it boots with / on /dev/mapper/root, verified, read-only,
#    the change present, the new roothash on the command line; and
#    /etc/default/grub makes a later grub-mkconfig write root=/dev/mapper/root;
# 2. the same image with bytes of the check script's data blocks flipped in
#    the root partition of the raw file (found with debugfs): the kernel
#    reports the verity corruption and the altered script never runs.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
base=$(base_image debian-dracut)

v1=$T_TMP/v1.raw
verity_layout_config "$T_TMP/v.yaml" "$v1" raw
"$IMGRECIPE" build "$T_TMP/v.yaml" --image-file "$base" --build-dir "$T_TMP/build" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; }

v2=$T_TMP/v2.raw
cat > "$T_TMP/re.yaml" <<YAML
previewFeatures: [reinitialize-verity]
storage:
  reinitializeVerity: all
os:
  packages:
    install:
    - cryptsetup-bin
  additionalFiles:
  - destination: /etc/imgrecipe-reinit.txt
    content: "reinitialized"
  - destination: /usr/local/bin/imgrecipe-check
    permissions: "0755"
    content: |
      #!/bin/sh
      exec >/dev/ttyS0 2>&1
      echo "IRCHECK mount /=\$(findmnt -n -o SOURCE,FSTYPE,OPTIONS / | tr -s ' ')"
      echo "IRCHECK verity=\$(veritysetup status root 2>&1 | awk '/status:|verified/ {print}' | tr -s ' ' | tr '\n' ';')"
      echo "IRCHECK reinit=\$(cat /etc/imgrecipe-reinit.txt)"
      echo "IRCHECK cmdline=\$(cat /proc/cmdline)"
      echo IRCHECK-DONE
scripts:
  finalizeCustomization:
  - content: grub-mkconfig -o /etc/imgrecipe-mkconfig.cfg
output:
  image:
    path: $v2
    format: raw
YAML
"$IMGRECIPE" build "$T_TMP/re.yaml" --image-file "$v1" --build-dir "$T_TMP/build2" 2> "$T_TMP/build2.log" \
    || { tail -30 "$T_TMP/build2.log"; t_fail "re-customization with reinitializeVerity: all"; t_done; }
rm -f "$v1"

table=$(sfdisk -J "$v2")
off() { echo $(( $(jq ".partitiontable.partitions[$(($1 - 1))].start" <<< "$table") * 512 )); }
defaults=$(fs_cat "$v2" "$(off 3)" /etc/default/grub)
check_contains "/etc/default/grub: GRUB_DEVICE=/dev/mapper/root" "$defaults" "GRUB_DEVICE=/dev/mapper/root"
check_contains "/etc/default/grub: GRUB_DISABLE_LINUX_UUID=true" "$defaults" "GRUB_DISABLE_LINUX_UUID=true"
check_contains "grub-mkconfig run in the image writes root=/dev/mapper/root" \
    "$(fs_cat "$v2" "$(off 3)" /etc/imgrecipe-mkconfig.cfg | grep -E '^\s*linux' | head -1)" "root=/dev/mapper/root"
roothash=$(fs_cat "$v2" "$(off 2)" /grub/grub.cfg | grep -o 'roothash=[0-9a-f]*' | head -1 | cut -d= -f2)

log=$T_TMP/serial.log
if "$TESTS_DIR/lib/boot-check.sh" --image "$v2" --format raw --timeout 400 --marker "IRCHECK-DONE" --log "$log"; then
    t_pass "re-customized verity image boots and the check unit ran"
else
    t_fail "boot"
fi
fact() { tr -d '\r' < "$log" | grep -a "^IRCHECK $1=" | head -1 | cut -d= -f2-; }
check_contains "/ is /dev/mapper/root, read-only" "$(fact "mount /")" "/dev/mapper/root ext4 ro"
check_contains "veritysetup status: verified" "$(fact verity)" "verified"
check_eq "the OS change on the hashed root is there" "reinitialized" "$(fact reinit)"
check_contains "the new roothash is on the command line" "$(fact cmdline)" "roothash=$roothash"

# 2. Flip bytes in the data blocks of the check script inside the root partition.
root_off=$(off 3)
blocks=$(debugfs -R "blocks /usr/local/bin/imgrecipe-check" "$v2?offset=$root_off" 2>/dev/null | tr -s ' ' | sed 's/ *$//')
block=${blocks%% *}
check "debugfs finds the script's data block" test -n "$block"
# After "#!/bin/sh\nexec >/dev/ttyS0 2>&1\n" (32 bytes): the next line becomes an echo.
printf 'echo IRCHECK-ALTERED\n#' | dd of="$v2" bs=1 seek=$(( root_off + block * 4096 + 32 )) conv=notrunc status=none
log2=$T_TMP/serial2.log
"$TESTS_DIR/lib/boot-check.sh" --image "$v2" --format raw --timeout 400 --marker "IRCHECK-DONE" --log "$log2" 2>/dev/null || true
serial=$(tr -d '\r' < "$log2")
check_contains "the kernel reports the verity corruption" "$serial" "is corrupted"
check_not_contains "the altered script did not run" "$serial" "IRCHECK-ALTERED"
check_not_contains "the check unit did not complete" "$serial" "IRCHECK-DONE"
rm -f "$v2"
t_done
