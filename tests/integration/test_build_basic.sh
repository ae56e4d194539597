#!/usr/bin/env bash
# imgrecipe build with a YAML config on the tiny image: hostname, files (one
# inline with mode 0600, one copied, one on the FAT ESP), kernel arguments
# (one with a ';', quoted for GRUB),
# post and finalize scripts; every change read back from the output.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
BASE=$IMG_PATH
before=$(sha256sum "$BASE" | cut -d' ' -f1)
host_name=$(hostname)

cfg=$T_TMP/cfg
mkdir -p "$cfg/files" "$cfg/scripts"
printf 'copied file\n' > "$cfg/files/copied.txt"
chmod 0640 "$cfg/files/copied.txt"
cat > "$cfg/scripts/post.sh" <<'SH'
#!/bin/sh
set -e
echo "post ran with $GREETING and args $*" > /etc/post-marker
# The config dir is visible read-only.
if touch /_imageconfigs/should-fail 2>/dev/null; then echo "config dir writable" >&2; exit 1; fi
# Clean environment: nothing from the host leaks in.
env | sort > /etc/post-env
test -n "$(cat /etc/hostname)"
# The image's own UTS namespace: this must not rename the build host.
hostname imgrecipe-leak-test
SH
cat > "$cfg/config.yaml" <<YAML
input:
  image:
    path: $BASE
os:
  hostname: built-host
  additionalFiles:
    - content: |
        secret content
      destination: /etc/secret.conf
      permissions: "0600"
    - source: files/copied.txt
      destination: /opt/data/copied.txt
    - content: "on the esp"
      destination: /boot/efi/EFI/BOOT/extra.txt
  kernelCommandLine:
    extraCommandLine:
      - imgrecipe.extra=yes
      - console=ttyS0
      - ds=nocloud;s=file:///seed/
scripts:
  postCustomization:
    - path: scripts/post.sh
      arguments: [one, two]
      environmentVariables:
        GREETING: hello
  finalizeCustomization:
    - content: |
        echo finalized > /etc/finalize-marker
      name: finalize-inline
output:
  image:
    path: $T_TMP/out.raw
    format: raw
YAML

loops0=$(all_loops)
set +e
out=$(HOME_SECRET=leak "$IMGRECIPE" build "$cfg/config.yaml" --build-dir "$T_TMP/build" 2>&1)
rc=$?
set -e
echo "$out" | tail -40
check_eq "build exits 0" 0 "$rc"
check "output exists" test -f "$T_TMP/out.raw"
check_eq "input unchanged" "$before" "$(sha256sum "$BASE" | cut -d' ' -f1)"
check_eq "no loop device left" "$loops0" "$(all_loops)"
check_eq "run directory removed" "" "$(ls "$T_TMP/build" 2>/dev/null)"
check_contains "log names the steps" "$out" "[hostname]"

O=$T_TMP/out.raw
check_eq "hostname" "built-host" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/hostname)"
check_eq "inline file" "secret content" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/secret.conf)"
check_eq "inline file mode" "0600" "$(fs_mode "$O" "$ROOT_OFFSET" /etc/secret.conf)"
check_eq "copied file" "copied file" "$(fs_cat "$O" "$ROOT_OFFSET" /opt/data/copied.txt)"
check_eq "copied file keeps source mode" "0640" "$(fs_mode "$O" "$ROOT_OFFSET" /opt/data/copied.txt)"
check_eq "file on the FAT ESP" "on the esp" "$(fat_cat "$O" "$ESP_OFFSET" /EFI/BOOT/extra.txt)"
check_contains "ESP keeps its other files" "$(MTOOLS_SKIP_CHECK=1 mdir -b -i "$O@@$ESP_OFFSET" ::/EFI/BOOT)" "grub.cfg"
check_eq "ESP volume ID kept" "$ESP_UUID" "$(blkid --probe --offset "$ESP_OFFSET" -s UUID -o value "$O")"
dd if="$O" of="$T_TMP/esp.img" iflag=skip_bytes,count_bytes skip="$ESP_OFFSET" count="$ESP_SIZE" status=none
check "ESP passes fsck.fat" fsck.fat -n "$T_TMP/esp.img"
grub=$(fs_cat "$O" "$ROOT_OFFSET" /boot/grub/grub.cfg)
check_contains "kernel arg appended" "$grub" "ro quiet imgrecipe.extra=yes console=ttyS0 'ds=nocloud;s=file:///seed/'"
check_contains "default grub updated" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/default/grub)" "imgrecipe.extra=yes"
# A ';' argument: single-quoted in grub.cfg (GRUB would end the command at ';');
# in /etc/default/grub, as the shell reads it, escaped for GRUB (grub-mkconfig
# copies the value into grub.cfg).
fs_cat "$O" "$ROOT_OFFSET" /etc/default/grub > "$T_TMP/default-grub"
check_contains "default grub: the ';' argument as grub-mkconfig will copy it" \
    "$(env -i bash -c '. "$1"; printf %s "$GRUB_CMDLINE_LINUX_DEFAULT"' _ "$T_TMP/default-grub")" 'ds=nocloud\;s=file:///seed/'
check_eq "host hostname untouched by the image's scripts" "$host_name" "$(hostname)"
check_eq "post script ran with args and env" "post ran with hello and args one two" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/post-marker)"
penv=$(fs_cat "$O" "$ROOT_OFFSET" /etc/post-env)
check_not_contains "clean environment" "$penv" "HOME_SECRET"
check_contains "fixed PATH" "$penv" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
check_eq "finalize script ran" "finalized" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/finalize-marker)"
check_eq "resolv.conf symlink restored" "../run/systemd/resolve/stub-resolv.conf" \
    "$(debugfs -R 'stat /etc/resolv.conf' "$O?offset=$ROOT_OFFSET" 2>/dev/null | sed -n 's/^Fast link dest: "\(.*\)"/\1/p')"
check "no policy-rc.d left" fs_lacks "$O" "$ROOT_OFFSET" /usr/sbin policy-rc.d
check "no config mount point left" fs_lacks "$O" "$ROOT_OFFSET" / _imageconfigs
check "root fs clean" e2fsck -fn "$O?offset=$ROOT_OFFSET" >/dev/null 2>&1
t_done
