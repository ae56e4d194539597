#!/usr/bin/env bash
# Issue 9: `initramfsType: full-os` (ISO and PXE), `kdumpBootFiles` (keep,
# none, unset), the modes of iso/pxe `additionalFiles` (permissions, a
# source's own mode, content files 0644), and shim as the PXE bootx64.efi.
# On the debian-base image, which has no dracut: a full-os build does not
# need it. Everything is read back without mounting: the ISO with xorriso,
# the initramfs with zstdcat + cpio, the PXE tree and archive as files.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
kver=$KERNEL_VERSION

cfg=$T_TMP/cfg
mkdir -p "$cfg" "$T_TMP/out"
echo "payload from a file" > "$cfg/payload.bin"
printf '#!/bin/sh\necho exec\n' > "$cfg/exec.bin"
chmod 0755 "$cfg/exec.bin"
chmod 0640 "$cfg/payload.bin"

# A kdump initramfs as ALIC names them (initramfs-<version>kdump.img).
kdump_os="os:
  additionalFiles:
    - content: \"kdump-initrd\\n\"
      destination: /boot/initramfs-${kver}kdump.img"

build() { # CONFIG OUTPUT FORMAT LOG [IMAGE]
    set +e
    "$IMGRECIPE" build --config-file "$1" --image-file "${5:-$IMG_PATH}" --output-image-file "$2" \
        --output-image-format "$3" --build-dir "$T_TMP/b" 2> "$4"
    local rc=$?
    set -e
    return $rc
}
# cpio_list FILE: the names in a zstd cpio initramfs, one per line.
cpio_list() { zstdcat "$1" | cpio -t --quiet 2>/dev/null | LC_ALL=C sort; }
# iso_modes ISO: "mode path" for every file.
iso_modes() { xorriso -indev "$1" -find / -type f -exec lsdl 2>/dev/null | awk '{ gsub("\x27", "", $NF); print $1, $NF }'; }

# ---- ISO, full-os, kdump keep, additionalFiles modes ----
cat > "$cfg/iso.yaml" <<YAML
previewFeatures: [kdump-boot-files]
$kdump_os
iso:
  initramfsType: full-os
  kdumpBootFiles: keep
  kernelCommandLine:
    extraCommandLine: [imgrecipe.fullos=1]
  additionalFiles:
    - content: "#!/bin/sh\necho run\n"
      destination: /tools/run.sh
      permissions: "0750"
    - source: payload.bin
      destination: /payload.bin
      permissions: "0600"
    - source: exec.bin
      destination: /exec.bin
    - content: "plain\n"
      destination: /plain.txt
YAML
iso=$T_TMP/out/full.iso
rc=0; build "$cfg/iso.yaml" "$iso" iso "$T_TMP/iso.log" || rc=$?
check_eq "full-os ISO build succeeds without dracut in the image" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/iso.log"; t_done; exit 1; }
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
files=$(xorriso -indev "$iso" -find / -type f 2>/dev/null | tr -d "'" | LC_ALL=C sort)
check_contains "the ISO has the kernel" "$files" "/boot/vmlinuz-$kver"
check_contains "the ISO has ALIC's full-os initramfs /boot/initrd.img" "$files" "/boot/initrd.img"
check_not_contains "no squashfs live root on a full-os ISO" "$files" "/LiveOS/"
check_not_contains "keep: the kdump initramfs is not on the media" "$files" "kdump"
grubcfg=$(xorriso -osirrox on -indev "$iso" -extract /boot/grub/grub.cfg "$T_TMP/grub.cfg" 2>/dev/null; cat "$T_TMP/grub.cfg")
linux=$(grep -P '^\tlinux\t' <<< "$grubcfg")
check_not_contains "full-os kernel line: no root= (the initramfs is the root)" "$linux" "root="
check_not_contains "full-os kernel line: no dmsquash-live arguments" "$linux" "rd.live"
check_contains "full-os kernel line: the extra argument" "$linux" "imgrecipe.fullos=1"
check_contains "initrd line" "$grubcfg" "	initrd	/boot/initrd.img"
xorriso -osirrox on -indev "$iso" -extract /boot/initrd.img "$T_TMP/initrd.img" 2>/dev/null
check_eq "the initramfs is zstd" "28b52ffd" "$(head -c 4 "$T_TMP/initrd.img" | od -An -tx1 | tr -d ' \n')"
list=$(cpio_list "$T_TMP/initrd.img")
check_contains "the initramfs is the whole OS (systemd)" "$list" "usr/lib/systemd/systemd"
check_contains "the initramfs has /etc/os-release" "$list" "etc/os-release"
check_contains "/init is systemd" "$(zstdcat "$T_TMP/initrd.img" | cpio -tv --quiet 2>/dev/null | grep -E ' init -> ')" \
    "init -> /lib/systemd/systemd"
check_contains "keep: the kdump initramfs stays in the root's /boot" "$list" "boot/initramfs-${kver}kdump.img"
check_contains "keep: with its kernel" "$list" "boot/vmlinuz-$kver"
check_eq "/boot holds only the kdump files" "$(printf 'boot/initramfs-%skdump.img\nboot/vmlinuz-%s' "$kver" "$kver")" \
    "$(grep '^boot/' <<< "$list")"
check_eq "/proc is an empty mount point" "" "$(grep '^proc/' <<< "$list")"
check_contains "the live fstab" "$(zstdcat "$T_TMP/initrd.img" | (cd "$T_TMP" && cpio -i --quiet --to-stdout etc/fstab 2>/dev/null))" \
    "LiveOS"
saved=$(xorriso -osirrox on -indev "$iso" -extract /azl-image-customizer/saved-configs.yaml "$T_TMP/saved.yaml" 2>/dev/null; cat "$T_TMP/saved.yaml")
check_contains "saved configs: full-os" "$saved" '"initramfsType": "full-os"'
check_contains "saved configs: kdumpBootFiles" "$saved" '"kdumpBootFiles": "keep"'
modes=$(iso_modes "$iso")
check_contains "permissions 0750 on the ISO" "$modes" "-rwxr-x--- /tools/run.sh"
check_contains "permissions 0600 on the ISO (source file 0640)" "$modes" "-rw------- /payload.bin"
check_contains "a source without permissions keeps its mode (0755)" "$modes" "-rwxr-xr-x /exec.bin"
check_contains "content without permissions is 0644" "$modes" "-rw-r--r-- /plain.txt"
xorriso -osirrox on -indev "$iso" -extract /payload.bin "$T_TMP/payload.out" 2>/dev/null
check "the payload's content" cmp -s "$cfg/payload.bin" "$T_TMP/payload.out"

# ---- ISO input (full-os), arguments only: re-packaged, modes kept ----
cat > "$cfg/re.yaml" <<'YAML'
iso:
  kernelCommandLine:
    extraCommandLine: [imgrecipe.second=1]
  additionalFiles:
    - content: "new\n"
      destination: /tools/new.sh
      permissions: "0700"
YAML
iso2=$T_TMP/out/full2.iso
rc=0; build "$cfg/re.yaml" "$iso2" iso "$T_TMP/re.log" "$iso" || rc=$?
check_eq "full-os ISO → ISO (arguments only) succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -20 "$T_TMP/re.log"
xorriso -osirrox on -indev "$iso2" -extract /boot/grub/grub.cfg "$T_TMP/grub2.cfg" 2>/dev/null
check_contains "old and new arguments" "$(grep -P '^\tlinux\t' "$T_TMP/grub2.cfg")" "imgrecipe.fullos=1 imgrecipe.second=1"
xorriso -osirrox on -indev "$iso2" -extract /boot/initrd.img "$T_TMP/initrd2.img" 2>/dev/null
check "the full-os initramfs is the input's, byte for byte" cmp -s "$T_TMP/initrd.img" "$T_TMP/initrd2.img"
modes2=$(iso_modes "$iso2")
check_contains "re-packaged: earlier modes kept" "$modes2" "-rwxr-x--- /tools/run.sh"
check_contains "re-packaged: new file's permissions" "$modes2" "-rwx------ /tools/new.sh"

# ---- PXE, full-os by default (no URL), kdump none, modes in the tree ----
cat > "$cfg/pxe.yaml" <<YAML
previewFeatures: [kdump-boot-files]
$kdump_os
pxe:
  kdumpBootFiles: none
  kernelCommandLine:
    extraCommandLine: [imgrecipe.pxe=1]
  additionalFiles:
    - content: "#!/bin/sh\n"
      destination: /tools/run.sh
      permissions: "0750"
    - source: payload.bin
      destination: /payload.bin
    - source: exec.bin
      destination: /exec.bin
      permissions: "0700"
YAML
out=$T_TMP/out/pxe
rc=0; build "$cfg/pxe.yaml" "$out" pxe-dir "$T_TMP/pxe.log" || rc=$?
check_eq "pxe-dir full-os build succeeds (ALIC's PXE default)" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/pxe.log"; t_done; exit 1; }
tree_list() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort); }
expected=$(printf '%s\n' ./boot ./boot/grub2 ./boot/grub2/grub.cfg ./boot/initrd.img "./boot/initramfs-${kver}kdump.img" \
    "./boot/vmlinuz-$kver" ./bootx64.efi ./exec.bin ./grubx64.efi ./payload.bin ./tools ./tools/run.sh | LC_ALL=C sort)
check_eq "the tree: kernel, full-os initramfs, kdump initramfs (none: on the media), loaders, files" \
    "$expected" "$(tree_list "$out")"
linux=$(grep -P '^\tlinux\t' "$out/boot/grub2/grub.cfg")
check_not_contains "PXE full-os: no root=, no ISO URL" "$linux" "root="
check_not_contains "PXE full-os: no ip=dhcp (nothing is downloaded)" "$linux" "ip=dhcp"
check_contains "PXE full-os: the extra argument" "$linux" "imgrecipe.pxe=1"
check_contains "PXE full-os initrd line" "$(cat "$out/boot/grub2/grub.cfg")" "	initrd	/boot/initrd.img"
check_eq "kdump none: the kdump initramfs as the image has it" "kdump-initrd" "$(cat "$out/boot/initramfs-${kver}kdump.img")"
check_eq "kdump none: not in the root's /boot" "" "$(cpio_list "$out/boot/initrd.img" | grep '^boot/' || true)"
check "grubx64.efi is bootx64.efi without shim in the image" cmp -s "$out/bootx64.efi" "$out/grubx64.efi"
check_eq "tree mode 0750" "750" "$(stat -c %a "$out/tools/run.sh")"
check_eq "tree: a source keeps its mode (0640)" "640" "$(stat -c %a "$out/payload.bin")"
check_eq "tree mode 0700" "700" "$(stat -c %a "$out/exec.bin")"
check_eq "the initramfs is readable by a TFTP server" "644" "$(stat -c %a "$out/boot/initrd.img")"

# ---- pxe-tar, full-os, with shim in the image; kdump unset ----
cat > "$cfg/shim.yaml" <<YAML
$kdump_os
  packages:
    install: [shim-unsigned]
pxe:
  initramfsType: full-os
  additionalFiles:
    - content: "x\n"
      destination: /x.txt
      permissions: "0604"
YAML
tgz=$T_TMP/out/pxe.tar.gz
rc=0; build "$cfg/shim.yaml" "$tgz" pxe-tar "$T_TMP/shim.log" || rc=$?
check_eq "pxe-tar full-os with shim succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/shim.log"; t_done; exit 1; }
mkdir -p "$T_TMP/tar"
tar -xzf "$tgz" -C "$T_TMP/tar"
check_eq "archive tree (kdump unset: left out)" \
    "$(printf '%s\n' ./boot ./boot/grub2 ./boot/grub2/grub.cfg ./boot/initrd.img "./boot/vmlinuz-$kver" ./bootx64.efi \
        ./grubx64.efi ./x.txt | LC_ALL=C sort)" "$(tree_list "$T_TMP/tar")"
check "bootx64.efi is shim (UEFI SHIM in the binary)" bash -c "strings '$T_TMP/tar/bootx64.efi' | grep -q 'UEFI SHIM'"
check "grubx64.efi is GRUB with the network modules" bash -c "strings '$T_TMP/tar/grubx64.efi' | grep -q efinet"
check "bootx64.efi and grubx64.efi differ" bash -c "! cmp -s '$T_TMP/tar/bootx64.efi' '$T_TMP/tar/grubx64.efi'"
check_contains "the archive records mode 0604" "$(tar -tvzf "$tgz" ./x.txt)" "-rw----r--"
check_eq "kdump unset: not in the root's /boot either" "" "$(cpio_list "$T_TMP/tar/boot/initrd.img" | grep '^boot/' || true)"

# ---- refusals ----
fail() { # NAME CONFIG FORMAT MESSAGE
    printf '%s\n' "$2" > "$cfg/$1.yaml"
    set +e
    "$IMGRECIPE" build --config-file "$cfg/$1.yaml" --image-file "$IMG_PATH" --output-image-file "$T_TMP/out/$1.out" \
        --output-image-format "$3" --build-dir "$T_TMP/fb" 2> "$T_TMP/$1.log"
    local rc=$?
    set -e
    check "$1: fails" test "$rc" -ne 0
    check_contains "$1: clear error" "$(cat "$T_TMP/$1.log")" "$4"
    check "$1: no output" test ! -e "$T_TMP/out/$1.out"
    check_eq "$1: no loop device left" 0 "$(all_loops)"
}
fail url-full "pxe:
  initramfsType: full-os
  bootstrapBaseUrl: http://10.0.2.2:8000/" pxe-dir "cannot be used with initramfsType 'full-os'"
fail kdump-no-preview "iso:
  kdumpBootFiles: keep" iso "kdump-boot-files"
fail selinux-full "os:
  selinux:
    mode: enforcing
iso:
  initramfsType: full-os" iso "SELinux mode 'enforcing' cannot be used on live media"
fail bad-perm "iso:
  initramfsType: full-os
  additionalFiles:
    - content: x
      destination: /x
      permissions: \"0999\"" iso "permissions"
t_done
