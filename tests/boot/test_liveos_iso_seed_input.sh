#!/usr/bin/env bash
# Issue 9 §3 boot tests 2 and 3.
# 2. A cloud-init NoCloud seed carried on the ISO media (iso.additionalFiles
#    under /cloud-init-data, as ALIC's ISO page lays it out) is applied when
#    the live system boots: cloud-init (installed by the config) reads it from
#    /run/initramfs/live/cloud-init-data/ and sets the hostname of meta-data
#    and writes the file of user-data. As ALIC's page does, the seed is named
#    by the kernel argument 'ds=nocloud;s=file:///run/initramfs/live/...'
#    (iso.kernelCommandLine.extraCommandLine), which grub.cfg carries
#    single-quoted: /proc/cmdline must hold it intact, ';' included, and it
#    is the only place the seed is named (cloud.cfg.d only trims modules).
# 3. That ISO re-customized through ISO input with a new kernel argument and
#    an OS change (a new file in the root, so the root is rebuilt from the
#    squashfs) boots and shows both generations: the first build's file,
#    media payload, argument and seed, and the second build's file and argument.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-dracut
boot_check() { "$TESTS_DIR/lib/boot-check.sh" "$@"; }

cfg=$T_TMP/cfg
mkdir -p "$cfg/cloud-init-data"
printf 'instance-id: imgrecipe-live-1\nlocal-hostname: seeded-host\n' > "$cfg/cloud-init-data/meta-data"
cat > "$cfg/cloud-init-data/user-data" <<'YAML'
#cloud-config
write_files:
  - path: /etc/cloud-seed-marker
    content: "applied-from-the-media\n"
YAML
cat > "$cfg/first.yaml" <<'YAML'
os:
  packages:
    install: [dracut, dracut-live, cloud-init]
  additionalFiles:
    - content: |
        datasource_list: [NoCloud, None]
        network: {config: disabled}
        # Only what the seed uses: the boot stays within the test's time.
        cloud_init_modules: [write_files, set_hostname, update_hostname]
        cloud_config_modules: []
        cloud_final_modules: []
      destination: /etc/cloud/cloud.cfg.d/90-imgrecipe-live-seed.cfg
    - content: "first-build\n"
      destination: /etc/imgrecipe-first
    - content: |
        #!/bin/sh
        yn() { grep -qw "$1" /proc/cmdline && echo yes || echo no; }
        root=$(findmnt -n -o FSTYPE,SOURCE /)
        seed=$(cat /etc/cloud-seed-marker 2>/dev/null || echo none)
        first=$(cat /etc/imgrecipe-first 2>/dev/null || echo none)
        second=$(cat /etc/imgrecipe-second 2>/dev/null || echo none)
        media=$(cat /run/initramfs/live/first.txt 2>&1)
        ds=$(tr ' ' '\n' < /proc/cmdline | grep '^ds=' || echo none)
        echo "SEEDMARK root=[$root] host=[$(hostname)] seed=[$seed] first=[$first] second=[$second] media=[$media] args=[$(yn imgrecipe.first=1)/$(yn imgrecipe.second=2)] ds=[$ds]" > /dev/ttyS0
      destination: /usr/local/bin/seed-marker
      permissions: "0755"
    - content: |
        [Unit]
        Description=imgrecipe LiveOS seed and ISO input boot test marker
        After=multi-user.target cloud-init.service
        [Service]
        Type=oneshot
        ExecStart=/usr/local/bin/seed-marker
        [Install]
        WantedBy=multi-user.target
      destination: /etc/systemd/system/seed-marker.service
  services:
    enable: [seed-marker.service]
iso:
  kernelCommandLine:
    extraCommandLine:
      - console=ttyS0,115200n8
      - imgrecipe.first=1
      - ds=nocloud;s=file:///run/initramfs/live/cloud-init-data/
  additionalFiles:
    - source: cloud-init-data/user-data
      destination: /cloud-init-data/user-data
    - source: cloud-init-data/meta-data
      destination: /cloud-init-data/meta-data
    - content: "first-media\n"
      destination: /first.txt
output:
  image:
    format: iso
YAML

# build NAME ARGS... -> $T_TMP/NAME.iso
build() {
    local name=$1
    shift
    if "$IMGRECIPE" build "$@" --output-image-file "$T_TMP/$name.iso" --build-dir "$T_TMP/b" \
        2> "$T_TMP/$name.log"; then
        t_pass "$name ISO built ($(du -m "$T_TMP/$name.iso" | cut -f1) MiB)"
    else
        tail -30 "$T_TMP/$name.log"
        t_fail "$name ISO build"
        t_done
        exit 1
    fi
}
build first --config-file "$cfg/first.yaml" --image-file "$IMG_PATH"
xorriso -osirrox on -indev "$T_TMP/first.iso" -extract /cloud-init-data/meta-data "$T_TMP/meta-data" 2>/dev/null
check_eq "the seed is on the media" "$(cat "$cfg/cloud-init-data/meta-data")" "$(cat "$T_TMP/meta-data")"
xorriso -osirrox on -indev "$T_TMP/first.iso" -extract /boot/grub/grub.cfg "$T_TMP/grub.cfg" 2>/dev/null
check_contains "grub.cfg carries the seed argument single-quoted" "$(cat "$T_TMP/grub.cfg")" \
    " 'ds=nocloud;s=file:///run/initramfs/live/cloud-init-data/'"

root="root=[overlay LiveOS_rootfs]"
seeded="host=[seeded-host] seed=[applied-from-the-media]"
ds="ds=[ds=nocloud;s=file:///run/initramfs/live/cloud-init-data/]"
check "boot 1: the NoCloud seed on the media is applied (hostname, user-data file)" \
    boot_check --image "$T_TMP/first.iso" --media cd --firmware uefi --timeout 240 \
    --log "$T_TMP/boot1.log" \
    --marker "SEEDMARK $root $seeded first=[first-build] second=[none] media=[first-media] args=[yes/no] $ds"
grep -a SEEDMARK "$T_TMP/boot1.log" | head -1 || true

cat > "$cfg/second.yaml" <<'YAML'
os:
  additionalFiles:
    - content: "second-build\n"
      destination: /etc/imgrecipe-second
iso:
  kernelCommandLine:
    extraCommandLine: [imgrecipe.second=2]
output:
  image:
    format: iso
YAML
first_sum=$(sha256sum < "$T_TMP/first.iso")
build second --config-file "$cfg/second.yaml" --image-file "$T_TMP/first.iso"
check_contains "ISO input with an OS change rebuilds the root" "$(cat "$T_TMP/second.log")" "[open iso] start"
check_eq "the input ISO is unchanged" "$first_sum" "$(sha256sum < "$T_TMP/first.iso")"
check "boot 2: the re-customized ISO shows the first and the second build's changes" \
    boot_check --image "$T_TMP/second.iso" --media cd --firmware uefi --timeout 240 \
    --log "$T_TMP/boot2.log" \
    --marker "SEEDMARK $root $seeded first=[first-build] second=[second-build] media=[first-media] args=[yes/yes] $ds"
grep -a SEEDMARK "$T_TMP/boot2.log" | head -1 || true
t_done
