#!/usr/bin/env bash
# The hybrid ISO of the boot media primitives starts GRUB in all four ways
# it is meant to boot: as a CD under SeaBIOS (El Torito BIOS entry), as a
# disk under SeaBIOS (GRUB's hybrid MBR), as a CD under OVMF (El Torito
# UEFI entry) and as a disk under OVMF (the appended GPT ESP). Each GRUB
# finds the ISO by its label and runs the ISO's grub.cfg, which prints a
# marker with the platform on the serial console. GRUB only: no kernel.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

iso=$T_TMP/boot.iso
"$IMGRECIPE" run "$TESTS_DIR/boot/recipes/iso-grub.lua" --build-dir "$T_TMP/build" \
    --param output="$iso" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "build"; t_done; exit 1; }

if [[ -e /sys/module/kvm_intel || -e /sys/module/kvm_amd ]] && [[ -w /dev/kvm ]]; then
    accel=(-accel kvm -cpu host)
else
    accel=(-accel tcg -cpu max)
fi

# boot NAME FIRMWARE(bios|uefi) MEDIA(cd|disk) MARKER
boot() {
    local name=$1 firmware=$2 media=$3 marker=$4 log=$T_TMP/$1.log pid i ok=0
    local fw=() drive=()
    if [[ $firmware == uefi ]]; then
        cp /usr/share/OVMF/OVMF_VARS_4M.fd "$T_TMP/$name.vars"
        fw=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
            -drive "if=pflash,format=raw,unit=1,file=$T_TMP/$name.vars")
    fi
    if [[ $media == cd ]]; then
        drive=(-drive "if=none,id=cd,media=cdrom,readonly=on,format=raw,file=$iso" -device virtio-scsi-pci
            -device scsi-cd,drive=cd,bootindex=0)
    else
        drive=(-drive "if=none,id=hd,format=raw,snapshot=on,file=$iso" -device virtio-blk-pci,drive=hd,bootindex=0)
    fi
    : > "$log"
    qemu-system-x86_64 -machine q35 "${accel[@]}" -m 512 -smp 1 -nic none -display none -no-reboot \
        -serial "file:$log" "${fw[@]}" "${drive[@]}" &
    pid=$!
    for ((i = 0; i < 240; i++)); do
        if grep -aq "$marker" "$log"; then ok=1; break; fi
        if grep -aqE "grub rescue>|UEFI Interactive Shell|error: no such device|No bootable device" "$log"; then break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if ((ok)); then
        t_pass "$name: GRUB from the ISO ran the ISO's grub.cfg ($marker)"
    else
        t_fail "$name: no '$marker' after ${i}s; log tail: $(tr -d '\r' < "$log" | tail -5 | tr '\n' '|')"
    fi
}

boot bios-cd bios cd "IMGRECIPE-ISO-GRUB-pc"
check_contains "bios-cd: the BIOS El Torito GRUB started" "$(tr -d '\r' < "$T_TMP/bios-cd.log")" "IMGRECIPE-EARLY-BIOS"
boot bios-disk bios disk "IMGRECIPE-ISO-GRUB-pc"
boot uefi-cd uefi cd "IMGRECIPE-ISO-GRUB-efi"
check_contains "uefi-cd: the EFI GRUB started" "$(tr -d '\r' < "$T_TMP/uefi-cd.log")" "IMGRECIPE-EARLY-EFI"
boot uefi-disk uefi disk "IMGRECIPE-ISO-GRUB-efi"
t_done
