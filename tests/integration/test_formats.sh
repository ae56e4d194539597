#!/usr/bin/env bash
# Every output format reads back with the same partitions and file contents
# (and passes qemu-img check where the format has one); every input format is
# detected from content and customized.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny

table() { sfdisk -J "$1" | grep -v -e '"device"' -e '"node"'; }
base_table=$(table "$IMG_PATH")

cfg=$T_TMP/config.yaml
cat > "$cfg" <<YAML
os:
  hostname: formats-host
  additionalFiles:
    - {content: "fat data", destination: /boot/efi/data.txt}
YAML

declare -A qemu_fmt=([raw]=raw [qcow2]=qcow2 [vhd]=vpc [vhd-fixed]=vpc [vhdx]=vhdx)
for fmt in raw qcow2 vhd vhd-fixed vhdx; do
    out=$T_TMP/out.$fmt
    if ! "$IMGRECIPE" build "$cfg" --image-file "$IMG_PATH" --output-image-file "$out" \
        --output-image-format "$fmt" --build-dir "$T_TMP/build" 2> "$T_TMP/$fmt.log"; then
        cat "$T_TMP/$fmt.log"
        t_fail "$fmt: build"
        continue
    fi
    info=$(qemu-img info -f "${qemu_fmt[$fmt]}" --output=json "$out")
    check_contains "$fmt: qemu-img reads it as ${qemu_fmt[$fmt]}" "$info" "\"format\": \"${qemu_fmt[$fmt]}\""
    case $fmt in
        qcow2|vhdx) check "$fmt: qemu-img check" qemu-img check -q "$out" ;;
    esac
    case $fmt in
        vhd|vhd-fixed)
            check_eq "$fmt: conectix footer" "conectix" "$(tail -c 512 "$out" | head -c 8)"
            vsize=$(echo "$info" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
            check_eq "$fmt: virtual size is whole MiB" 0 "$((vsize % 1048576))" ;;
        vhdx)
            check_eq "$fmt: vhdx signature" "vhdxfile" "$(head -c 8 "$out")" ;;
    esac
    if [[ $fmt == vhd-fixed ]]; then
        check_eq "$fmt: fixed disk type" "00000002" "$(tail -c 512 "$out" | od -An -tx1 -j60 -N4 | tr -d ' \n')"
    fi
    raw=$T_TMP/back.$fmt.raw
    qemu-img convert -f "${qemu_fmt[$fmt]}" -O raw "$out" "$raw"
    check_eq "$fmt: same partition table" "$base_table" "$(table "$raw")"
    check_eq "$fmt: hostname" "formats-host" "$(fs_cat "$raw" "$ROOT_OFFSET" /etc/hostname)"
    check_eq "$fmt: ESP file" "fat data" "$(fat_cat "$raw" "$ESP_OFFSET" /data.txt)"
    check_eq "$fmt: untouched file intact" "$(fs_cat "$IMG_PATH" "$ROOT_OFFSET" /etc/os-release)" "$(fs_cat "$raw" "$ROOT_OFFSET" /etc/os-release)"
    check "$fmt: root fs clean" e2fsck -fn "$raw?offset=$ROOT_OFFSET" >/dev/null 2>&1
    rm -f "$raw"
done

check "raw output stays sparse" test "$(du -k "$T_TMP/out.raw" | cut -f1)" -lt $(( IMG_SIZE / 1024 / 2 ))

# Input formats, detected from content whatever the file name says.
for fmt in qcow2 vpc-dynamic vpc-fixed vhdx; do
    in=$T_TMP/input-$fmt.img
    case $fmt in
        vpc-dynamic) qemu-img convert -O vpc -o subformat=dynamic,force_size=on "$IMG_PATH" "$in" ;;
        vpc-fixed) qemu-img convert -O vpc -o subformat=fixed,force_size=on "$IMG_PATH" "$in" ;;
        *) qemu-img convert -O "$fmt" "$IMG_PATH" "$in" ;;
    esac
    sum=$(sha256sum "$in" | cut -d' ' -f1)
    out=$T_TMP/from-$fmt.raw
    if "$IMGRECIPE" build "$cfg" --image-file "$in" --output-image-file "$out" --output-image-format raw \
        --build-dir "$T_TMP/build" 2> "$T_TMP/in-$fmt.log"; then
        check_eq "input $fmt: same partition table" "$base_table" "$(table "$out")"
        check_eq "input $fmt: hostname" "formats-host" "$(fs_cat "$out" "$ROOT_OFFSET" /etc/hostname)"
        check_eq "input $fmt: disk size kept" "$IMG_SIZE" "$(stat -c %s "$out")"
    else
        cat "$T_TMP/in-$fmt.log"
        t_fail "input $fmt: build"
    fi
    check_eq "input $fmt: input unchanged" "$sum" "$(sha256sum "$in" | cut -d' ' -f1)"
    rm -f "$in" "$out"
done
t_done
