#!/usr/bin/env bash
# Issue 9 §2: `--output-image-format pxe-dir` and `pxe-tar` (imgrecipe.pxe,
# bootstrap initramfs) on the debian-dracut image with a config that installs
# dracut, dracut-live, dracut-network and the tools of dracut's livenet over
# network-legacy (curl, dhclient, arping, pgrep, ip). The tree is checked file by
# file: bootx64.efi (the image's shim: the config installs shim-signed and
# grub-efi-amd64-signed) / grubx64.efi (GRUB with the network modules),
# boot/grub2/grub.cfg (the exact kernel line: root=live:<URL of the ISO>),
# the kernel, the initramfs (livenet inside), the ISO (the LiveOS ISO) and a
# pxe.additionalFiles file, also on the ISO (as ALIC's); the ISO's EFI image
# boots shim and Debian's signed GRUB. pxe-tar (with bootstrapFileUrl) holds the same
# tree with the ISO named after the URL. Error paths: a non-empty output
# directory, an output that is a file, bootstrap without a URL, both URLs, an image
# without livenet's packages; none leaves an output or a temporary.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-dracut
kver=$KERNEL_VERSION

cfg=$T_TMP/cfg
mkdir -p "$cfg" "$T_TMP/out"
echo "payload from a file" > "$cfg/payload.bin"
write_cfg() { # NAME URL_LINE FORMAT
    cat > "$cfg/$1.yaml" <<YAML
os:
  packages:
    install: [dracut, dracut-live, dracut-network, curl, isc-dhcp-client, iputils-arping, procps, iproute2,
              shim-signed, grub-efi-amd64-signed]
pxe:
  kernelCommandLine:
    extraCommandLine:
      - imgrecipe.pxe=1
      - console=ttyS0,115200n8
  $2
  additionalFiles:
    - content: "payload in the tree\n"
      destination: /extra/payload.txt
    - source: payload.bin
      destination: /payload.bin
      permissions: "755"
output:
  image:
    format: $3
YAML
}
write_cfg dir "bootstrapBaseUrl: http://10.0.2.2:8000/pxe/" pxe-dir
write_cfg tar "bootstrapFileUrl: http://10.0.2.2:8000/isos/live-1.iso" pxe-tar

build() { # CONFIG OUTPUT LOG
    set +e
    "$IMGRECIPE" build --config-file "$1" --image-file "$IMG_PATH" --output-image-file "$2" \
        --build-dir "$T_TMP/b" 2> "$3"
    local rc=$?
    set -e
    return $rc
}

# ---- pxe-dir ----
out=$T_TMP/out/pxe
rc=0; build "$cfg/dir.yaml" "$out" "$T_TMP/dir.log" || rc=$?
check_eq "pxe-dir build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/dir.log"; t_done; exit 1; }
check_contains "the PXE build ran as one named step" "$(cat "$T_TMP/dir.log")" "[liveos pxe] start"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "working files removed" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_eq "only the tree in its directory (no temporary)" "pxe" "$(ls -A "$T_TMP/out")"
tree_list() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort); }
expected=$(printf '%s\n' ./boot ./boot/grub2 ./boot/grub2/grub.cfg "./boot/initrd.img-$kver" "./boot/vmlinuz-$kver" \
    ./bootx64.efi ./extra ./extra/payload.txt ./grubx64.efi ./image.iso ./payload.bin | LC_ALL=C sort)
check_eq "the tree: exactly ALIC's files plus the additional files" "$expected" "$(tree_list "$out")"
check_eq "every file is world-readable (TFTP servers do not run as root)" "" \
    "$(find "$out" -type f ! -perm -0444 -printf '%P ')"
check_eq "bootx64.efi is a PE image" "MZ" "$(head -c 2 "$out/bootx64.efi")"
check "bootx64.efi is the image's shim (shim-signed)" bash -c "strings '$out/bootx64.efi' | grep -q 'UEFI SHIM'"
check "grubx64.efi has GRUB's network modules (efinet, tftp)" bash -c \
    "strings '$out/grubx64.efi' | grep -q efinet && strings '$out/grubx64.efi' | grep -q tftp"
check_eq "payload content" "payload in the tree" "$(cat "$out/extra/payload.txt")"
check_eq "payload from a file (relative to the config)" "payload from a file" "$(cat "$out/payload.bin")"
grubcfg=$(cat "$out/boot/grub2/grub.cfg")
check_not_contains "grub.cfg: no search (GRUB's root is the TFTP server)" "$grubcfg" "search"
linux=$(grep -P '^\tlinux\t' <<< "$grubcfg")
check_eq "kernel line, exactly" \
    "	linux	/boot/vmlinuz-$kver root=live:http://10.0.2.2:8000/pxe/image.iso rd.live.image rd.live.dir=LiveOS rd.live.squashimg=rootfs.img rd.live.overlay.overlayfs rd.live.overlay.nouserconfirmprompt ip=dhcp $(
    # the image's own arguments (from its grub.cfg, without root= and ro), then the config's
    debugfs -R "cat /boot/grub/grub.cfg" "$IMG_PATH?offset=$ROOT_OFFSET" 2>/dev/null | grep -P '^\s+linux\s' | head -1 |
        awk '{ for (i = 3; i <= NF; i++) print $i }' | grep -v -E '^(root=|ro$|rw$|rootflags=|rootfstype=|resume=|BOOT_IMAGE=)' | tr '\n' ' ')imgrecipe.pxe=1 console=ttyS0,115200n8" \
    "$linux"
check_contains "initrd line" "$grubcfg" "	initrd	/boot/initrd.img-$kver"
check_eq "the kernel is the image's" "$(debugfs -R "cat /boot/vmlinuz-$kver" "$IMG_PATH?offset=$ROOT_OFFSET" 2>/dev/null | sha256sum)" \
    "$(sha256sum < "$out/boot/vmlinuz-$kver")"
initrd_list=$( (zcat "$out/boot/initrd.img-$kver" 2>/dev/null || zstdcat "$out/boot/initrd.img-$kver" 2>/dev/null || true) | python3 -c '
import sys
d = sys.stdin.buffer.read(); o = 0
while o + 110 <= len(d) and d[o:o + 6] in (b"070701", b"070702"):
    n, size = int(d[o + 94:o + 102], 16), int(d[o + 54:o + 62], 16)
    name = d[o + 110:o + 110 + n - 1].decode(errors="replace")
    if name == "TRAILER!!!": break
    print(name)
    o = (o + 110 + n + 3) & ~3
    o = (o + size + 3) & ~3
')
check_contains "the initramfs has dracut's livenet" "$initrd_list" "sbin/livenetroot"
check_contains "the initramfs has dmsquash-live" "$initrd_list" "sbin/dmsquash-live-root"
check_contains "the initramfs has curl (url-lib)" "$initrd_list" "bin/curl"
check_contains "the initramfs has dhclient (network-legacy)" "$initrd_list" "sbin/dhclient"
iso=$out/image.iso
check_contains "image.iso is the LiveOS ISO (label CDROM)" "$(xorriso -indev "$iso" -pvd_info 2>/dev/null)" "Volume Id    : CDROM"
isofiles=$(xorriso -indev "$iso" -find / -type f 2>/dev/null | tr -d "'")
check_contains "image.iso has the live root" "$isofiles" "/LiveOS/rootfs.img"
# ALIC puts pxe.additionalFiles on the bootstrap ISO too (same path, content, mode).
check_contains "pxe.additionalFiles are also on the ISO" "$isofiles" "/extra/payload.txt"
mkdir -p "$T_TMP/x"
xorriso -osirrox on -indev "$iso" -extract /extra/payload.txt "$T_TMP/x/payload.txt" \
    -extract /payload.bin "$T_TMP/x/payload.bin" 2>/dev/null
check_eq "the ISO's content file: content and mode 0644" "payload in the tree 644" \
    "$(cat "$T_TMP/x/payload.txt" 2>/dev/null) $(stat -c %a "$T_TMP/x/payload.txt" 2>/dev/null)"
check_eq "the ISO's source file: content and the mode from permissions" "payload from a file 755" \
    "$(cat "$T_TMP/x/payload.bin" 2>/dev/null) $(stat -c %a "$T_TMP/x/payload.bin" 2>/dev/null)"
check_eq "the tree's source file has that mode too" "755" "$(stat -c %a "$out/payload.bin")"
xorriso -osirrox on -indev "$iso" -extract "/boot/initrd.img-$kver" "$T_TMP/x/initrd.img" 2>/dev/null
check "the ISO's initramfs is the tree's (one dracut run)" cmp -s "$T_TMP/x/initrd.img" "$out/boot/initrd.img-$kver"

# The image has shim-signed and grub-efi-amd64-signed: the ISO's EFI image
# (the appended ESP, read with mtools) and its /EFI/BOOT boot shim, which
# loads Debian's signed GRUB; that GRUB's built-in prefix is /EFI/debian, where
# the early config (find the media by label, load its grub.cfg) waits.
esp_start=$(sfdisk -J "$iso" | python3 -c 'import json,sys; p=[x for x in json.load(sys.stdin)["partitiontable"]["partitions"] if x["type"]=="C12A7328-F81F-11D2-BA4B-00A0C93EC93B"]; print(p[0]["start"]*512)')
fat_ls() { mdir -b -i "$iso@@$esp_start" "::$1" | sed 's|/$||; s|.*/||' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'; }
check_eq "EFI image: EFI/BOOT holds shim, GRUB, the MOK manager and the early config" \
    "BOOTX64.EFI grub.cfg grubx64.efi mmx64.efi" "$(fat_ls /EFI/BOOT)"
check_eq "EFI image: EFI holds BOOT and debian (the signed GRUB's prefix)" "BOOT debian" "$(fat_ls /EFI)"
sq=$T_TMP/x/rootfs.img
xorriso -osirrox on -indev "$iso" -extract /LiveOS/rootfs.img "$sq" 2>/dev/null
for pair in BOOTX64.EFI:/usr/lib/shim/shimx64.efi.signed grubx64.efi:/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed \
        mmx64.efi:/usr/lib/shim/mmx64.efi.signed; do
    name=${pair%%:*} src=${pair#*:}
    mtype -i "$iso@@$esp_start" "::/EFI/BOOT/$name" > "$T_TMP/x/fat-$name"
    unsquashfs -cat "$sq" "$src" > "$T_TMP/x/img-$name"
    check "EFI image: EFI/BOOT/$name is the image's $src" cmp -s "$T_TMP/x/fat-$name" "$T_TMP/x/img-$name"
    xorriso -osirrox on -indev "$iso" -extract "/EFI/BOOT/$name" "$T_TMP/x/iso-$name" 2>/dev/null
    check "the ISO's /EFI/BOOT/$name is the same file" cmp -s "$T_TMP/x/fat-$name" "$T_TMP/x/iso-$name"
done
check "the tree's bootx64.efi is the same shim" cmp -s "$T_TMP/x/fat-BOOTX64.EFI" "$out/bootx64.efi"
early=$(mtype -i "$iso@@$esp_start" ::/EFI/debian/grub.cfg)
check_eq "EFI image: EFI/debian/grub.cfg is the early config" \
    "$(printf 'search --no-floppy --set=root --label CDROM\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg')" "$early"
check_eq "EFI image: EFI/BOOT/grub.cfg too (the signed GRUB's \$cmdpath fallback)" "$early" \
    "$(mtype -i "$iso@@$esp_start" ::/EFI/BOOT/grub.cfg)"

# ---- pxe-tar, with bootstrapFileUrl ----
tgz=$T_TMP/out/pxe.tar.gz
rc=0; build "$cfg/tar.yaml" "$tgz" "$T_TMP/tar.log" || rc=$?
check_eq "pxe-tar build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/tar.log"; t_done; exit 1; }
check_eq "no loop device left (tar)" 0 "$(all_loops)"
check_eq "only the tree and the archive (no temporary)" "$(printf 'pxe\npxe.tar.gz')" "$(ls -A "$T_TMP/out" | LC_ALL=C sort)"
tar_list=$(tar -tzf "$tgz" | sed 's|/$||' | grep -v '^\.$' | LC_ALL=C sort)
check_eq "the archive holds the same tree (ISO named after bootstrapFileUrl)" \
    "$(sed 's|^\./image\.iso$|./live-1.iso|' <<< "$expected" | LC_ALL=C sort)" "$tar_list"
check_contains "the archive's kernel line boots the ISO from bootstrapFileUrl" \
    "$(tar -xzOf "$tgz" ./boot/grub2/grub.cfg)" "root=live:http://10.0.2.2:8000/isos/live-1.iso rd.live.image"
check_eq "the archive's grub.cfg differs from the dir's only by the URL" \
    "$(sed 's|http://10.0.2.2:8000/pxe/image.iso|http://10.0.2.2:8000/isos/live-1.iso|' "$out/boot/grub2/grub.cfg")" \
    "$(tar -xzOf "$tgz" ./boot/grub2/grub.cfg)"

# ---- error paths: nothing is written ----
# fail NAME CONFIG_TEXT EXPECTED_MESSAGE [OUTPUT [FORMAT]]
fail() {
    local name=$1 o=${4:-$T_TMP/fail/$1.out} format=${5:-pxe-dir}
    mkdir -p "$T_TMP/fail"
    printf '%s\n' "$2" > "$T_TMP/fail/$name.yaml"
    local before
    before=$(find "$T_TMP/fail" | LC_ALL=C sort)
    set +e
    "$IMGRECIPE" build --config-file "$T_TMP/fail/$name.yaml" --image-file "$IMG_PATH" --output-image-file "$o" \
        --output-image-format "$format" --build-dir "$T_TMP/fb" 2> "$T_TMP/fail/$name.log"
    local rc=$?
    set -e
    check "$name: fails" test "$rc" -ne 0
    check_contains "$name: clear error" "$(cat "$T_TMP/fail/$name.log")" "$3"
    check_eq "$name: no output, no temporary" "$before" "$(find "$T_TMP/fail" -not -name "$name.log" | LC_ALL=C sort)"
    check_eq "$name: no loop device left" 0 "$(all_loops)"
    check_eq "$name: no mount left" 0 "$(mounts_under "$T_TMP")"
}
url="pxe:
  bootstrapBaseUrl: http://10.0.2.2:8000"
mkdir -p "$T_TMP/fail/full"; echo keep > "$T_TMP/fail/full/old"
fail non-empty "$url" "output directory $T_TMP/fail/full exists and is not empty" "$T_TMP/fail/full"
check_eq "non-empty: the directory is untouched" "keep" "$(cat "$T_TMP/fail/full/old")"
echo file > "$T_TMP/fail/afile"
fail is-file "$url" "exists and is not a directory" "$T_TMP/fail/afile"
fail no-url "pxe:
  initramfsType: bootstrap" "bootstrap PXE needs pxe.bootstrapBaseUrl or pxe.bootstrapFileUrl"
fail both-urls "pxe:
  bootstrapBaseUrl: http://a.invalid/
  bootstrapFileUrl: http://a.invalid/x.iso" "bootstrapFileUrl"
fail bad-scheme "pxe:
  bootstrapBaseUrl: file:///srv" "bootstrapBaseUrl"
fail tar-dir "$url" "is a directory" "$T_TMP/fail" pxe-tar
fail iso-own-path "$url
  additionalFiles:
    - content: x
      destination: /LiveOS/extra.img" "PXE additional file /LiveOS/extra.img: the path is one of the bootstrap ISO's own"
fail no-livenet "os:
  packages:
    install: [dracut, dracut-live]
$url" "PXE bootstrap: the image has no dracut's network module, dracut's network-legacy module, dracut's url-lib module, curl, dhclient, arping, pgrep, ip, which the network-booting initramfs needs (dracut's livenet over network-legacy): install them in the image (os.packages.install; Debian/Ubuntu packages: dracut-network, curl, isc-dhcp-client, iputils-arping, procps, iproute2)"
t_done
