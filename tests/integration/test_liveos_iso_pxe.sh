#!/usr/bin/env bash
# Issue 9 §2 (ISO input → PXE): a LiveOS ISO made by imgrecipe becomes a
# pxe-dir and a pxe-tar (ALIC allows iso, pxe-dir and pxe-tar from an ISO).
# The root is rebuilt from the media's squashfs, the config's OS changes (if
# any) are applied, and the PXE build runs on it, keeping the media's
# arguments (the image's own and the saved iso.kernelCommandLine ones) and its
# files. Without OS changes: a full-os tree (the media's files in the tree);
# with OS changes (the packages of dracut's livenet and a new file in the OS):
# a bootstrap tree whose image.iso carries the media's files and the change.
# initramfsType follows the input ISO's (bootstrap) when the config sets
# none, so a bootstrap PXE without a URL is refused with ALIC's reason.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-dracut
kver=$KERNEL_VERSION

cfg=$T_TMP/cfg
mkdir -p "$cfg" "$T_TMP/out"
cat > "$cfg/base.yaml" <<'YAML'
os:
  packages:
    install: [dracut, dracut-live]
iso:
  kernelCommandLine:
    extraCommandLine: [imgrecipe.old=1]
  additionalFiles:
    - content: "media payload\n"
      destination: /media.txt
      permissions: "0640"
YAML
base=$T_TMP/out/base.iso
build() { # CONFIG OUTPUT FORMAT LOG
    set +e
    "$IMGRECIPE" build --config-file "$1" --image-file "$base" --output-image-file "$2" \
        --output-image-format "$3" --build-dir "$T_TMP/b" 2> "$4"
    local rc=$?
    set -e
    return $rc
}
set +e
"$IMGRECIPE" build --config-file "$cfg/base.yaml" --image-file "$IMG_PATH" --output-image-file "$base" \
    --output-image-format iso --build-dir "$T_TMP/b" 2> "$T_TMP/base.log"
rc=$?
set -e
check_eq "the input ISO is built" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/base.log"; t_done; exit 1; }
base_sum=$(sha256sum < "$base")
xorriso -osirrox on -indev "$base" -extract /boot/grub/grub.cfg "$T_TMP/base-grub.cfg" 2>/dev/null
# The image's own arguments as the media has them (after the live ones, before the saved one).
image_args=$(grep -P '^\tlinux\t' "$T_TMP/base-grub.cfg" | sed -E 's/^.*rd\.live\.overlay\.nouserconfirmprompt //; s/ imgrecipe\.old=1$//')

# ---- no OS changes: pxe-dir, full-os ----
cat > "$cfg/full.yaml" <<'YAML'
pxe:
  initramfsType: full-os
  kernelCommandLine:
    extraCommandLine: [imgrecipe.new=2]
  additionalFiles:
    - content: "tree file\n"
      destination: /tree.txt
YAML
out=$T_TMP/out/pxe
rc=0; build "$cfg/full.yaml" "$out" pxe-dir "$T_TMP/full.log" || rc=$?
check_eq "ISO → pxe-dir (full-os, no OS changes) succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/full.log"; t_done; exit 1; }
check_contains "the root was rebuilt from the media" "$(cat "$T_TMP/full.log")" "[open iso] start"
check_eq "the input is untouched" "$base_sum" "$(sha256sum < "$base")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
tree_list() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort); }
check_eq "the tree: full-os files, the media's file and the new one" \
    "$(printf '%s\n' ./boot ./boot/grub2 ./boot/grub2/grub.cfg ./boot/initrd.img "./boot/vmlinuz-$kver" ./bootx64.efi \
        ./grubx64.efi ./media.txt ./tree.txt | LC_ALL=C sort)" "$(tree_list "$out")"
check_eq "the media's file, with its mode" "640 media payload" "$(stat -c %a "$out/media.txt") $(cat "$out/media.txt")"
linux=$(grep -P '^\tlinux\t' "$out/boot/grub2/grub.cfg")
check_eq "kernel line: the image's arguments, the saved one, the new one" \
    "	linux	/boot/vmlinuz-$kver $image_args imgrecipe.old=1 imgrecipe.new=2" "$linux"
xorriso -osirrox on -indev "$base" -extract "/boot/vmlinuz-$kver" "$T_TMP/vmlinuz" 2>/dev/null
check "the kernel is the media's" cmp -s "$T_TMP/vmlinuz" "$out/boot/vmlinuz-$kver"
list=$(zstdcat "$out/boot/initrd.img" | cpio -t --quiet 2>/dev/null)
check_contains "the full-os initramfs is the media's OS (dracut-live installed earlier)" "$list" \
    "usr/lib/dracut/modules.d/90dmsquash-live"

# ---- OS changes: pxe-tar, bootstrap ----
cat > "$cfg/boot.yaml" <<'YAML'
os:
  packages:
    install: [dracut-network, curl, isc-dhcp-client, iputils-arping, procps, iproute2]
  additionalFiles:
    - content: "second generation\n"
      destination: /etc/imgrecipe-second
pxe:
  bootstrapBaseUrl: http://10.0.2.2:8000/
  kernelCommandLine:
    extraCommandLine: [imgrecipe.new=3]
YAML
tgz=$T_TMP/out/pxe.tar.gz
rc=0; build "$cfg/boot.yaml" "$tgz" pxe-tar "$T_TMP/boot.log" || rc=$?
check_eq "ISO → pxe-tar (bootstrap, OS changes) succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/boot.log"; t_done; exit 1; }
check_eq "no loop device left (tar)" 0 "$(all_loops)"
mkdir -p "$T_TMP/tar"
tar -xzf "$tgz" -C "$T_TMP/tar"
check_eq "the archive's tree (bootstrap)" \
    "$(printf '%s\n' ./boot ./boot/grub2 ./boot/grub2/grub.cfg "./boot/initrd.img-$kver" "./boot/vmlinuz-$kver" \
        ./bootx64.efi ./grubx64.efi ./image.iso | LC_ALL=C sort)" "$(tree_list "$T_TMP/tar")"
linux=$(grep -P '^\tlinux\t' "$T_TMP/tar/boot/grub2/grub.cfg")
check_contains "kernel line: the ISO's URL" "$linux" "root=live:http://10.0.2.2:8000/image.iso"
check_contains "kernel line: ends with the image's, the saved and the new arguments" "$linux" \
    "ip=dhcp $image_args imgrecipe.old=1 imgrecipe.new=3"
isofiles=$(xorriso -indev "$T_TMP/tar/image.iso" -find / -type f 2>/dev/null | tr -d "'")
check_contains "image.iso carries the media's file" "$isofiles" "/media.txt"
xorriso -osirrox on -indev "$T_TMP/tar/image.iso" -extract /LiveOS/rootfs.img "$T_TMP/rootfs.img" 2>/dev/null
check_eq "the OS change is in the new live root" "second generation" "$(unsquashfs -cat "$T_TMP/rootfs.img" /etc/imgrecipe-second)"
initrd_has() { zstdcat "$T_TMP/tar/boot/initrd.img-$kver" 2>/dev/null | cpio -t --quiet 2>/dev/null | grep -c "$1" || true; }
check "the initramfs was rebuilt with livenet" test "$(initrd_has sbin/livenetroot)" -gt 0

# ---- refusals ----
fail() { # NAME CONFIG FORMAT MESSAGE
    printf '%s\n' "$2" > "$cfg/$1.yaml"
    local rc=0
    build "$cfg/$1.yaml" "$T_TMP/out/$1.out" "$3" "$T_TMP/$1.log" || rc=$?
    check "$1: fails" test "$rc" -ne 0
    check_contains "$1: clear error" "$(cat "$T_TMP/$1.log")" "$4"
    check "$1: no output" test ! -e "$T_TMP/out/$1.out"
    check_eq "$1: no loop device left" 0 "$(all_loops)"
}
fail no-url "pxe:
  kernelCommandLine:
    extraCommandLine: [x=1]" pxe-dir "bootstrap PXE needs pxe.bootstrapBaseUrl or pxe.bootstrapFileUrl"
fail no-livenet "pxe:
  bootstrapBaseUrl: http://10.0.2.2:8000/" pxe-dir "PXE bootstrap: the image has no dracut's network module"
t_done
