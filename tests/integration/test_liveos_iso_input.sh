#!/usr/bin/env bash
# Issue 9 §2 (ISO input): a LiveOS ISO made by imgrecipe is re-customized
# with only iso.kernelCommandLine and iso.additionalFiles: it is re-packaged
# without rebuilding its root. The new ISO's grub.cfg and saved-configs file
# have the old and the new arguments, the media has the old and the new
# files, and the squashfs, kernel, initramfs and EFI loader are byte for byte
# the input's; the boot records are the same kind (BIOS + UEFI El Torito,
# ESP in the GPT). A second ISO → ISO run keeps both generations. ALIC's
# refusals: a non-ISO output, a storage section; and an ISO not made by
# imgrecipe, an os section (not supported yet): clear errors, no output.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-dracut
export MTOOLS_SKIP_CHECK=1

cfg=$T_TMP/cfg
mkdir -p "$cfg" "$T_TMP/out"
cat > "$cfg/base.yaml" <<'YAML'
os:
  packages:
    install: [dracut, dracut-live]
iso:
  kernelCommandLine:
    extraCommandLine:
      - imgrecipe.old=1
  additionalFiles:
    - content: "old payload\n"
      destination: /old.txt
    - content: "to be replaced\n"
      destination: /data/replaced.txt
output:
  image:
    format: iso
YAML
base=$T_TMP/out/base.iso
set +e
"$IMGRECIPE" build --config-file "$cfg/base.yaml" --image-file "$IMG_PATH" --output-image-file "$base" \
    --build-dir "$T_TMP/b" 2> "$T_TMP/base.log"
rc=$?
set -e
check_eq "the input ISO is built" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/base.log"; t_done; exit 1; }
base_sum=$(sha256sum < "$base")

# ---- ISO → ISO: a new argument and new files (input.image.path, relative) ----
echo "new payload from a file" > "$cfg/new.bin"
cat > "$cfg/repack.yaml" <<'YAML'
input:
  image:
    path: ../out/base.iso
iso:
  kernelCommandLine:
    extraCommandLine:
      - imgrecipe.new=2
      - console=ttyS0,115200n8
  additionalFiles:
    - content: "new payload\n"
      destination: /new.txt
    - source: new.bin
      destination: /data/new.bin
    - content: "replaced\n"
      destination: /data/replaced.txt
output:
  image:
    format: iso
YAML
new=$T_TMP/out/new.iso
set +e
"$IMGRECIPE" build --config-file "$cfg/repack.yaml" --output-image-file "$new" --build-dir "$T_TMP/b" \
    2> "$T_TMP/repack.log"
rc=$?
set -e
check_eq "ISO → ISO succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/repack.log"; t_done; exit 1; }
log=$(cat "$T_TMP/repack.log")
check_contains "re-packaged as one named step" "$log" "[liveos repackage] start"
check_not_contains "the root is not rebuilt (no mksquashfs)" "$log" "mksquashfs"
check_not_contains "the root is not rebuilt (no dracut)" "$log" "[dracut]"
check_eq "the input ISO is unchanged" "$base_sum" "$(sha256sum < "$base")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "working files removed" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"

# extract ISO DIR: every file of the ISO into DIR
extract() { mkdir -p "$2"; xorriso -osirrox on -indev "$1" -extract / "$2" 2>/dev/null; }
extract "$base" "$T_TMP/x0"
extract "$new" "$T_TMP/x1"
kver=$KERNEL_VERSION
for f in LiveOS/rootfs.img "boot/vmlinuz-$kver" "boot/initrd.img-$kver"; do
    check_eq "$f is byte-identical" "$(sha256sum < "$T_TMP/x0/$f")" "$(sha256sum < "$T_TMP/x1/$f")"
done
check_eq "old file kept" "old payload" "$(cat "$T_TMP/x1/old.txt")"
check_eq "new file added" "new payload" "$(cat "$T_TMP/x1/new.txt")"
check_eq "new file from a source (relative to the config)" "new payload from a file" "$(cat "$T_TMP/x1/data/new.bin")"
check_eq "a new file replaces the media's own" "replaced" "$(cat "$T_TMP/x1/data/replaced.txt")"
linux0=$(grep -P '^\tlinux\t' "$T_TMP/x0/boot/grub/grub.cfg")
linux1=$(grep -P '^\tlinux\t' "$T_TMP/x1/boot/grub/grub.cfg")
check_eq "grub.cfg: the old kernel line, then the new arguments" "$linux0 imgrecipe.new=2 console=ttyS0,115200n8" "$linux1"
check_contains "grub.cfg: the old argument" "$linux1" " imgrecipe.old=1 "
check_contains "grub.cfg: still finds the media by its label" "$(cat "$T_TMP/x1/boot/grub/grub.cfg")" \
    "search --no-floppy --set=root --label CDROM"
saved_args() {
    python3 -c 'import json,sys; t=[l for l in open(sys.argv[1]) if not l.startswith("#")]; d=json.loads("".join(t)); print(" ".join(d["iso"]["kernelCommandLine"]["extraCommandLine"]), d["iso"]["initramfsType"], d["os"]["kernelVersion"])' "$1"
}
check_eq "saved-configs: old and new arguments" "imgrecipe.old=1 imgrecipe.new=2 console=ttyS0,115200n8 bootstrap $kver" \
    "$(saved_args "$T_TMP/x1/azl-image-customizer/saved-configs.yaml")"
check_contains "volume label CDROM" "$(xorriso -indev "$new" -pvd_info 2>/dev/null)" "Volume Id    : CDROM"
eltorito=$(xorriso -indev "$new" -report_el_torito plain 2>/dev/null)
check_contains "El Torito: a BIOS entry" "$eltorito" "El Torito boot img :   1  BIOS"
check_contains "El Torito: a UEFI entry" "$eltorito" "El Torito boot img :   2  UEFI"
check_contains "the FAT image is the GPT's EFI System partition" "$(sfdisk -J "$new")" "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
esp() { sfdisk -J "$1" | python3 -c 'import json,sys; p=[x for x in json.load(sys.stdin)["partitiontable"]["partitions"] if x["type"]=="C12A7328-F81F-11D2-BA4B-00A0C93EC93B"]; print(p[0]["start"]*512)'; }
check_eq "the EFI loader is the input's" "$(mtype -i "$base@@$(esp "$base")" ::/EFI/BOOT/BOOTX64.EFI | sha256sum)" \
    "$(mtype -i "$new@@$(esp "$new")" ::/EFI/BOOT/BOOTX64.EFI | sha256sum)"
check_eq "the media has no other change" "$(cd "$T_TMP/x0" && find . -type f ! -name boot.catalog | sort)" \
    "$(cd "$T_TMP/x1" && find . -type f ! -name boot.catalog ! -name new.txt ! -name new.bin | sort)"
rm -rf "$T_TMP/x0"

# ---- a second generation keeps both (--image-file overrides input.image.path) ----
printf 'iso:\n  kernelCommandLine:\n    extraCommandLine: [imgrecipe.third=3]\noutput:\n  image:\n    format: iso\n' \
    > "$cfg/third.yaml"
third=$T_TMP/out/third.iso
"$IMGRECIPE" build --config-file "$cfg/third.yaml" --image-file "$new" --output-image-file "$third" \
    --build-dir "$T_TMP/b" 2> "$T_TMP/third.log" || tail -20 "$T_TMP/third.log"
extract "$third" "$T_TMP/x2"
check_eq "third generation: grub.cfg has every argument" "$linux1 imgrecipe.third=3" \
    "$(grep -P '^\tlinux\t' "$T_TMP/x2/boot/grub/grub.cfg")"
check_eq "third generation: saved-configs has every argument" \
    "imgrecipe.old=1 imgrecipe.new=2 console=ttyS0,115200n8 imgrecipe.third=3 bootstrap $kver" \
    "$(saved_args "$T_TMP/x2/azl-image-customizer/saved-configs.yaml")"
check_eq "third generation: files of both earlier runs" "old payload|new payload" \
    "$(cat "$T_TMP/x2/old.txt")|$(cat "$T_TMP/x2/new.txt")"
check_eq "third generation: squashfs still byte-identical" "$(sha256sum < "$T_TMP/x1/LiveOS/rootfs.img")" \
    "$(sha256sum < "$T_TMP/x2/LiveOS/rootfs.img")"
rm -rf "$T_TMP/x1" "$T_TMP/x2"

# ---- OS changes: the root is rebuilt from the squashfs and the LiveOS build runs again ----
cat > "$cfg/os.yaml" <<'YAML'
os:
  hostname: live-rebuilt
  additionalFiles:
    - content: "added on ISO input\n"
      destination: /etc/imgrecipe-iso-input
iso:
  kernelCommandLine:
    extraCommandLine: [imgrecipe.rebuilt=1]
output:
  image:
    format: iso
YAML
rebuilt=$T_TMP/out/rebuilt.iso
set +e
"$IMGRECIPE" build --config-file "$cfg/os.yaml" --image-file "$new" --output-image-file "$rebuilt" \
    --build-dir "$T_TMP/b" 2> "$T_TMP/rebuilt.log"
rc=$?
set -e
check_eq "ISO → ISO with OS changes succeeds" 0 "$rc"
if [[ $rc -eq 0 ]]; then
    check_contains "the root was rebuilt (open iso step)" "$(cat "$T_TMP/rebuilt.log")" "[open iso] start"
    check_eq "no loop device left" 0 "$(all_loops)"
    check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
    check_eq "working files removed" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"
    mkdir -p "$T_TMP/x3"
    xorriso -osirrox on -indev "$rebuilt" -extract /LiveOS/rootfs.img "$T_TMP/x3/rootfs.img" \
        -extract /boot/grub/grub.cfg "$T_TMP/x3/grub.cfg" -extract /old.txt "$T_TMP/x3/old.txt" \
        -extract /azl-image-customizer/saved-configs.yaml "$T_TMP/x3/saved.yaml" 2>/dev/null
    sq=$T_TMP/x3/rootfs.img
    check_eq "new squashfs: the new hostname" "live-rebuilt" "$(unsquashfs -cat "$sq" /etc/hostname)"
    check_eq "new squashfs: the new file" "added on ISO input" "$(unsquashfs -cat "$sq" /etc/imgrecipe-iso-input)"
    listing=$(unsquashfs -lln -d "" "$sq")
    check_contains "new squashfs: the earlier OS kept (dracut-live)" "$listing" " /usr/lib/dracut/modules.d/90dmsquash-live"
    check_eq "new squashfs: /boot empty" "" "$(grep -E ' /boot/' <<< "$listing" || true)"
    check_not_contains "new squashfs: no extraction directory left" "$listing" ".imgrecipe-live-root"
    check_eq "grub.cfg: every earlier argument, then the new one" "$linux1 imgrecipe.rebuilt=1" \
        "$(grep -P '^\tlinux\t' "$T_TMP/x3/grub.cfg")"
    check_eq "saved-configs: every argument" \
        "imgrecipe.old=1 imgrecipe.new=2 console=ttyS0,115200n8 imgrecipe.rebuilt=1 bootstrap $kver" \
        "$(saved_args "$T_TMP/x3/saved.yaml")"
    check_eq "media files of the input kept" "old payload" "$(cat "$T_TMP/x3/old.txt" 2>/dev/null)"
    rm -rf "$T_TMP/x3"
else
    tail -30 "$T_TMP/rebuilt.log"
fi

# ---- refusals: nothing is written ----
# fail NAME INPUT FORMAT CONFIG_TEXT EXPECTED_MESSAGE
fail() {
    local name=$1 out=$T_TMP/fail/$1.out
    mkdir -p "$T_TMP/fail"
    printf '%s\n' "$4" > "$T_TMP/fail/$name.yaml"
    set +e
    "$IMGRECIPE" build --config-file "$T_TMP/fail/$name.yaml" --image-file "$2" --output-image-file "$out" \
        --output-image-format "$3" --build-dir "$T_TMP/fb" 2> "$T_TMP/fail/$name.log"
    local rc=$?
    set -e
    check "$name: fails" test "$rc" -ne 0
    check_contains "$name: clear error" "$(cat "$T_TMP/fail/$name.log")" "$5"
    check_eq "$name: no output, no temporary" "" "$(find "$T_TMP/fail" -name "*$name.out*")"
    check_eq "$name: no loop device left" 0 "$(all_loops)"
    check_eq "$name: no mount left" 0 "$(mounts_under "$T_TMP")"
}
fail raw "$base" raw "iso:
  kernelCommandLine:
    extraCommandLine: [x=1]" "cannot generate output format from input format (output='raw', input='iso')"
fail qcow2 "$base" qcow2 "os:
  hostname: live" "cannot generate output format from input format (output='qcow2', input='iso')"
fail storage "$base" iso "os:
  bootloader:
    resetType: hard-reset
storage:
  resetPartitionsUuidsType: reset-all" "cannot customize partitions when input is ISO"
mkdir -p "$T_TMP/plain/dir"
echo hello > "$T_TMP/plain/dir/hello.txt"
xorriso -as mkisofs -R -V PLAIN -o "$T_TMP/plain/plain.iso" "$T_TMP/plain/dir" 2>/dev/null
fail plain "$T_TMP/plain/plain.iso" iso "iso:
  kernelCommandLine:
    extraCommandLine: [x=1]" "no /azl-image-customizer/saved-configs.yaml: only LiveOS ISOs made by imgrecipe"
t_done
