#!/usr/bin/env bash
# Issue 9 §2: a LiveOS ISO built from YAML (`--output-image-format iso`) from
# the debian-dracut image, with a config that installs dracut + dracut-live
# from the image's repository, adds a unit printing a marker, a kernel
# argument and a payload on the media. The ISO boots as a CD under OVMF
# (UEFI El Torito), as a CD under SeaBIOS (BIOS El Torito) and as a disk
# under OVMF (the appended ESP); each time the unit shows that / is the live
# overlay on the squashfs, that the argument is on the kernel command line
# and that the payload is readable under /run/initramfs/live. The image has
# shim-signed and grub-efi-amd64-signed: the EFI image's only loader OVMF
# starts (EFI/BOOT/BOOTX64.EFI) is shim, which loads Debian's signed GRUB,
# which reads the early config from its prefix /EFI/debian: both UEFI boots
# go through shim. The UEFI CD boot runs with Secure Boot ON (OVMF's secboot
# build, Microsoft's keys: `boot-check.sh --secure-boot ms`): the firmware
# checks shim against Microsoft's db entry, shim checks GRUB and the kernel
# against Debian's key, and the unit reports the SecureBoot EFI variable
# (1) and the kernel's "Secure boot enabled" line; the UEFI disk boot stays
# with Secure Boot off (0, no such line), the BIOS boot has no EFI variables.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-dracut
boot_check() { "$TESTS_DIR/lib/boot-check.sh" "$@"; }

cfg=$T_TMP/cfg
mkdir -p "$cfg"
cat > "$cfg/live.yaml" <<'YAML'
os:
  packages:
    install: [dracut, dracut-live, shim-signed, grub-efi-amd64-signed]
  additionalFiles:
    - content: |
        #!/bin/sh
        root=$(findmnt -n -o FSTYPE,SOURCE /)
        arg=no
        grep -qw imgrecipe.live=1 /proc/cmdline && arg=yes
        payload=$(cat /run/initramfs/live/payload.txt 2>&1)
        # SecureBoot variable: 4 attribute bytes, then the value (1 = on).
        sb=none
        v=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
        [ -e "$v" ] && sb=$(od -An -tu1 "$v" | awk '{ print $NF }')
        kmsg=$(dmesg | grep -c 'Secure boot enabled')
        echo "LIVEMARK root=[$root] arg=$arg payload=[$payload] secureboot=[$sb] kmsg=[$kmsg] LIVEEND" > /dev/ttyS0
      destination: /usr/local/bin/live-marker
      permissions: "0755"
    - content: |
        [Unit]
        Description=imgrecipe LiveOS boot test marker
        After=multi-user.target
        [Service]
        Type=oneshot
        ExecStart=/usr/local/bin/live-marker
        [Install]
        WantedBy=multi-user.target
      destination: /etc/systemd/system/live-marker.service
  services:
    enable: [live-marker.service]
iso:
  kernelCommandLine:
    extraCommandLine:
      - console=ttyS0,115200n8
      - imgrecipe.live=1
  additionalFiles:
    - content: "payload-on-the-media\n"
      destination: /payload.txt
YAML

iso=$T_TMP/live.iso
"$IMGRECIPE" build --config-file "$cfg/live.yaml" --image-file "$IMG_PATH" --output-image-file "$iso" \
    --output-image-format iso --build-dir "$T_TMP/b" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; exit 1; }
t_pass "LiveOS ISO built ($(du -m "$iso" | cut -f1) MiB)"
esp_start=$(sfdisk -J "$iso" | python3 -c 'import json,sys; p=[x for x in json.load(sys.stdin)["partitiontable"]["partitions"] if x["type"]=="C12A7328-F81F-11D2-BA4B-00A0C93EC93B"]; print(p[0]["start"]*512)')
check "the EFI image's BOOTX64.EFI is shim" bash -c "mtype -i '$iso@@$esp_start' ::/EFI/BOOT/BOOTX64.EFI | strings | grep -q 'UEFI SHIM'"
check "the EFI image's grubx64.efi is Debian's signed GRUB (prefix /EFI/debian)" bash -c \
    "mtype -i '$iso@@$esp_start' ::/EFI/BOOT/grubx64.efi | strings | grep -qx /EFI/debian"

marker="LIVEMARK root=[overlay LiveOS_rootfs] arg=yes payload=[payload-on-the-media]"
# firmware media secure-boot expected-SecureBoot-variable expected-kernel-line-count timeout
# (the Secure Boot boot suffers most from a busy machine: 52 s at load 3, but
# 187 s against 68-73 s for the others in one run at load 8)
for how in "uefi cd ms 1 1 360" "bios cd - none 0 240" "uefi disk - 0 0 240"; do
    read -r firmware media sb want_var want_kmsg timeout <<< "$how"
    sb_opt=() label="$firmware $media (Secure Boot off)"
    [[ $sb == - ]] || sb_opt=(--secure-boot "$sb") label="$firmware $media (Secure Boot on, $sb keys)"
    log=$T_TMP/$firmware-$media.log
    # Wait for the line's end only: the assertions below then read it, so a
    # wrong value fails at once with the line shown, not by a timeout.
    if boot_check --image "$iso" --media "$media" --firmware "$firmware" "${sb_opt[@]}" \
        --marker "LIVEEND" --timeout "$timeout" --log "$log"; then
        line=$(grep -a -o 'LIVEMARK .* LIVEEND' "$log" | head -1)
        echo "$line"
        check_contains "$label: the live system boots and / is the overlay on the squashfs" \
            "$line" "$marker "
        check_contains "$label: SecureBoot EFI variable" "$line" "secureboot=[$want_var]"
        check_contains "$label: kernel's \"Secure boot enabled\" lines" "$line" "kmsg=[$want_kmsg]"
    else
        t_fail "$label: the live system boots"
    fi
done
t_done
