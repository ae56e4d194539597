#!/usr/bin/env bash
# Issue 9 §2: `--output-image-format iso` (the LiveOS build, imgrecipe.liveos)
# on the debian-dracut image with a config that installs dracut + dracut-live
# from the image's own repository, adds kernel arguments and a file on the
# media. The ISO is read back without mounting it: volume label, El Torito
# catalog (BIOS and UEFI), files, the live grub.cfg's arguments, the
# saved-configs file, the initramfs (dmsquash-live inside), the EFI loader in
# the FAT image, and LiveOS/rootfs.img (unsquashfs: the live fstab, /boot
# empty, the customization present), and a media file larger than the
# ISO9660 per-file limit (4 GiB - 1; a sparse file): imgrecipe writes ISO
# level 3, where xorriso stores it as several extents, so it works: the file
# has its full size and its last bytes (past 4 GiB) read back (here rather
# than in a build of its own: an ISO build is minutes of dracut and
# mksquashfs). Error paths: an image without dracut
# names the packages to install, kdumpBootFiles without its preview feature
# and an enabled SELinux mode are refused; none leaves an output (full-os and
# kdumpBootFiles are tests/integration/test_liveos_fullos.sh).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-dracut
export MTOOLS_SKIP_CHECK=1

cfg=$T_TMP/cfg
mkdir -p "$cfg"
echo "payload from a file" > "$cfg/payload.bin"
big=$T_TMP/big.bin
truncate -s 4G "$big"
printf 'END-OF-BIG' >> "$big"
big_size=$(stat -c %s "$big")
check "the big payload is over 4 GiB - 1 and sparse" test "$big_size" -gt 4294967295 -a "$(du -k "$big" | cut -f1)" -lt 1024
cat > "$cfg/live.yaml" <<'YAML'
os:
  packages:
    install: [dracut, dracut-live]
  additionalFiles:
    - content: "live customization\n"
      destination: /etc/imgrecipe-live-test
iso:
  kernelCommandLine:
    extraCommandLine:
      - imgrecipe.live=1
      - console=ttyS0,115200n8
  additionalFiles:
    - content: "payload on the media\n"
      destination: /payload.txt
    - source: payload.bin
      destination: /data/payload.bin
    - source: BIG
      destination: /payload/big.bin
output:
  image:
    format: iso
YAML
sed -i "s|source: BIG|source: $big|" "$cfg/live.yaml"

iso=$T_TMP/out/live.iso
mkdir -p "$T_TMP/out"
set +e
"$IMGRECIPE" build --config-file "$cfg/live.yaml" --image-file "$IMG_PATH" --output-image-file "$iso" \
    --build-dir "$T_TMP/b" 2> "$T_TMP/build.log"
rc=$?
set -e
check_eq "build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/build.log"; t_done; exit 1; }
check_contains "the LiveOS build ran as one named step" "$(cat "$T_TMP/build.log")" "[liveos iso] start"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "working files removed" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_eq "only the ISO in its directory" "live.iso" "$(ls -A "$T_TMP/out")"

# ---- label and boot records ----
check_contains "volume label CDROM" "$(xorriso -indev "$iso" -pvd_info 2>/dev/null)" "Volume Id    : CDROM"
eltorito=$(xorriso -indev "$iso" -report_el_torito plain 2>/dev/null)
check_contains "El Torito: a BIOS entry" "$eltorito" "El Torito boot img :   1  BIOS"
check_contains "El Torito: a UEFI entry" "$eltorito" "El Torito boot img :   2  UEFI"
parts=$(sfdisk -J "$iso")
check_contains "the FAT image is the GPT's EFI System partition" "$parts" "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

# ---- files on the media ----
files=$(xorriso -indev "$iso" -find / -type f 2>/dev/null | tr -d "'")
kver=$KERNEL_VERSION
for f in "/boot/vmlinuz-$kver" "/boot/initrd.img-$kver" /boot/grub/grub.cfg /LiveOS/rootfs.img \
    /azl-image-customizer/saved-configs.yaml /payload.txt /data/payload.bin; do
    check_contains "media has $f" "$files" "$f"
done
mkdir -p "$T_TMP/x"
xorriso -osirrox on -indev "$iso" -extract /boot/grub/grub.cfg "$T_TMP/x/grub.cfg" \
    -extract /azl-image-customizer/saved-configs.yaml "$T_TMP/x/saved.yaml" \
    -extract /payload.txt "$T_TMP/x/payload.txt" -extract /data/payload.bin "$T_TMP/x/payload.bin" \
    -extract "/boot/initrd.img-$kver" "$T_TMP/x/initrd.img" -extract "/boot/vmlinuz-$kver" "$T_TMP/x/vmlinuz" \
    -extract /LiveOS/rootfs.img "$T_TMP/x/rootfs.img" 2>/dev/null
check_eq "payload content" "payload on the media" "$(cat "$T_TMP/x/payload.txt")"
check_eq "payload from a file (relative to the config)" "payload from a file" "$(cat "$T_TMP/x/payload.bin")"
# The payload over 4 GiB - 1 (its 4 GiB are not read back: its size, its
# extents and its last bytes are what ISO level 3 gets right or wrong).
listing=$(xorriso -indev "$iso" -lsl /payload/big.bin 2>/dev/null)
check_contains "the big payload has its full size on the media" "$listing" " $big_size "
extents=$(xorriso -indev "$iso" -find /payload/big.bin -exec report_lba -- 2>/dev/null | grep -c '^File data lba:' || true)
check "the big payload is stored as several extents (ISO level 3): $extents" test "$extents" -ge 2
xorriso -osirrox on -indev "$iso" -extract_cut /payload/big.bin 4294967296 10 "$T_TMP/x/tail.bin" 2>/dev/null
check_eq "the big payload's bytes past 4 GiB read back" "END-OF-BIG" "$(cat "$T_TMP/x/tail.bin" 2>/dev/null)"
rm -f "$big"
grubcfg=$(cat "$T_TMP/x/grub.cfg")
check_contains "grub.cfg finds the media by its label" "$grubcfg" "search --no-floppy --set=root --label CDROM"
linux=$(grep -P '^\tlinux\t' <<< "$grubcfg")
check_contains "kernel line boots the live root" "$linux" \
    "/boot/vmlinuz-$kver root=live:CDLABEL=CDROM rd.live.image rd.live.dir=LiveOS rd.live.squashimg=rootfs.img rd.live.overlay.overlayfs"
check_contains "kernel line: the config's arguments last" "$linux" " imgrecipe.live=1 console=ttyS0,115200n8"
check_not_contains "kernel line: no disk root= from the image" "$linux" "root=UUID"
check_not_contains "kernel line: no ro" " $linux " " ro "
check_contains "initrd line" "$grubcfg" "initrd	/boot/initrd.img-$kver"
saved=$(cat "$T_TMP/x/saved.yaml")
check_contains "saved-configs keeps the arguments" "$saved" '"imgrecipe.live=1"'
# JSON after a YAML comment line (YAML reads JSON); parsed without python3-yaml.
check_eq "saved-configs parses: iso.kernelCommandLine.extraCommandLine" "['imgrecipe.live=1', 'console=ttyS0,115200n8']" \
    "$(python3 -c 'import json,sys; t=[l for l in open(sys.argv[1]) if not l.startswith("#")]; print(json.loads("".join(t))["iso"]["kernelCommandLine"]["extraCommandLine"])' "$T_TMP/x/saved.yaml")"
check_eq "the kernel is the image's" "$(debugfs -R "cat /boot/vmlinuz-$kver" "$IMG_PATH?offset=$ROOT_OFFSET" 2>/dev/null | sha256sum)" \
    "$(sha256sum < "$T_TMP/x/vmlinuz")"
# Names in the (gzip or zstd) newc cpio, without the host needing cpio.
initrd_list=$( (zcat "$T_TMP/x/initrd.img" 2>/dev/null || zstdcat "$T_TMP/x/initrd.img" 2>/dev/null || true) | python3 -c '
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
check_contains "the initramfs has dracut's dmsquash-live" "$initrd_list" "sbin/dmsquash-live-root"
check_contains "the initramfs has the overlay module" "$initrd_list" "kernel/fs/overlayfs/overlay.ko"

# ---- the EFI loader in the FAT image (the appended ESP) ----
esp_start=$(sfdisk -J "$iso" | python3 -c 'import json,sys; p=[x for x in json.load(sys.stdin)["partitiontable"]["partitions"] if x["type"]=="C12A7328-F81F-11D2-BA4B-00A0C93EC93B"]; print(p[0]["start"]*512)')
in_fat() { mdir -i "$iso@@$esp_start" "::$1" > /dev/null; }
check "FAT image holds EFI/BOOT/BOOTX64.EFI" in_fat /EFI/BOOT/BOOTX64.EFI
check_eq "the EFI loader is a PE image" "MZ" "$(mtype -i "$iso@@$esp_start" ::/EFI/BOOT/BOOTX64.EFI | head -c 2)"
# No shim in the image: GRUB alone, as before (test_pxe.sh checks the shim layout).
check_eq "without shim: EFI/BOOT holds only BOOTX64.EFI" "BOOTX64.EFI" \
    "$(mdir -b -i "$iso@@$esp_start" ::/EFI/BOOT | sed 's|/$||; s|.*/||' | tr '\n' ' ' | sed 's/ $//')"
check_eq "without shim: EFI holds only BOOT" "BOOT" "$(mdir -b -i "$iso@@$esp_start" ::/EFI | sed 's|/$||; s|.*/||' | tr '\n' ' ' | sed 's/ $//')"
check_not_contains "without shim: no /EFI on the ISO itself" "$(xorriso -indev "$iso" -find / 2>/dev/null)" "/EFI"

# ---- the live root ----
sq=$T_TMP/x/rootfs.img
listing=$(unsquashfs -lln -d "" "$sq")
check_contains "rootfs: zstd level 9 (liveos.SQUASHFS_LEVEL)" "$(unsquashfs -s "$sq")" "compression-level 9"
check_contains "rootfs has the customization" "$listing" " /etc/imgrecipe-live-test"
check_contains "rootfs has dracut-live" "$listing" " /usr/lib/dracut/modules.d/90dmsquash-live"
check_eq "rootfs /boot is empty (kernel and initrd are on the media)" "" "$(grep -E ' /boot/' <<< "$listing" || true)"
check_not_contains "no bind point left in the rootfs" "$listing" ".imgrecipe-liveos"
check_contains "rootfs fstab is the live one" "$(unsquashfs -cat "$sq" /etc/fstab)" "LiveOS: / is the overlay"
check_not_contains "rootfs fstab mounts no disk" "$(unsquashfs -cat "$sq" /etc/fstab)" "UUID="
rm -rf "$T_TMP/x"

# ---- error paths: nothing is written ----
# fail NAME CONFIG_TEXT EXPECTED_MESSAGE
fail() {
    local name=$1 out=$T_TMP/fail/$1.iso
    mkdir -p "$T_TMP/fail"
    printf '%s\n' "$2" > "$T_TMP/fail/$name.yaml"
    set +e
    "$IMGRECIPE" build --config-file "$T_TMP/fail/$name.yaml" --image-file "${FAIL_IMG:-$IMG_PATH}" --output-image-file "$out" \
        --output-image-format iso --build-dir "$T_TMP/fb" 2> "$T_TMP/fail/$name.log"
    local rc=$?
    set -e
    check "$name: fails" test "$rc" -ne 0
    check_contains "$name: clear error" "$(cat "$T_TMP/fail/$name.log")" "$3"
    check_eq "$name: no output, no temporary" "" "$(find "$T_TMP/fail" -name "*$name.iso*")"
    check_eq "$name: no loop device left" 0 "$(all_loops)"
    check_eq "$name: no mount left" 0 "$(mounts_under "$T_TMP")"
}
FAIL_IMG=$(base_image debian-base)  # no dracut there
fail no-dracut "os:
  hostname: live" "the image has no dracut and its dmsquash-live module, which builds the live initramfs: install them in the image (os.packages.install; Debian/Ubuntu: dracut and dracut-live"
FAIL_IMG=
fail kdump-keep "iso:
  kdumpBootFiles: keep" "kdump-boot-files"
fail selinux "os:
  selinux:
    mode: enforcing" "LiveOS ISO: SELinux mode 'enforcing' cannot be used on live media"
t_done
