#!/usr/bin/env bash
# Issue 9 (ISO input, full-os): a full-os LiveOS ISO (the whole OS as a zstd
# cpio initramfs) re-customized through ISO input with OS changes. The root
# is rebuilt from the ISO's /boot/initrd.img (in-process cpio reader), the
# config's file, user and hostname are applied, and the LiveOS build runs
# again with the input's initramfsType (full-os). The new initramfs has the
# first generation's and the second's changes, and every entry the first
# had keeps its mode, owner and type (cpio -tv compared); the media's
# arguments and files are kept. Also ISO → full-os pxe-dir with an OS
# change. A truncated initramfs is a clear error naming the archive, with
# no output, no loop device, no mount left.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

cfg=$T_TMP/cfg
mkdir -p "$cfg" "$T_TMP/out"
build() { # CONFIG OUTPUT LOG [FORMAT]
    set +e
    "$IMGRECIPE" build --config-file "$1" --output-image-file "$2" ${4:+--output-image-format "$4"} \
        --build-dir "$T_TMP/b" 2> "$3"
    local rc=$?
    set -e
    return $rc
}
# initrd_of ISO DIR: the ISO's /boot/initrd.img as DIR/initrd.img.
initrd_of() { mkdir -p "$2"; xorriso -osirrox on -indev "$1" -extract /boot/initrd.img "$2/initrd.img" >/dev/null 2>&1; }
# listing INITRD: "mode uid gid name" for every entry (symlinks with their target), sorted.
listing() { zstdcat "$1" | cpio -tv --numeric-uid-gid --quiet 2>/dev/null |
    awk '{ name = $9; for (i = 10; i <= NF; i++) name = name " " $i; print $1, $3, $4, name }' | LC_ALL=C sort; }
# member INITRD PATH: the content of one file.
member() { zstdcat "$1" | cpio -i --to-stdout --quiet "$2" 2>/dev/null; }

# ---- generation 1: debian-base → full-os ISO ----
cat > "$cfg/gen1.yaml" <<YAML
input:
  image:
    path: $IMG_PATH
os:
  hostname: gen-one
  users:
    - name: alice
      uid: 1501
  additionalFiles:
    - content: "first generation\n"
      destination: /etc/gen1.txt
      permissions: "0640"
iso:
  initramfsType: full-os
  kernelCommandLine:
    extraCommandLine: [imgrecipe.gen=1]
  additionalFiles:
    - content: "media one\n"
      destination: /media1.txt
output:
  image:
    format: iso
YAML
gen1=$T_TMP/out/gen1.iso
rc=0; build "$cfg/gen1.yaml" "$gen1" "$T_TMP/gen1.log" || rc=$?
check_eq "the full-os input ISO is built" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/gen1.log"; t_done; exit 1; }
gen1_sum=$(sha256sum < "$gen1")

# ---- generation 2: ISO → ISO with OS changes (initramfsType unset: the input's) ----
cat > "$cfg/gen2.yaml" <<'YAML'
input:
  image:
    path: ../out/gen1.iso
os:
  hostname: gen-two
  users:
    - name: bob
      uid: 1502
  additionalFiles:
    - content: "second generation\n"
      destination: /etc/gen2.txt
      permissions: "0600"
iso:
  kernelCommandLine:
    extraCommandLine: [imgrecipe.gen=2]
  additionalFiles:
    - content: "media two\n"
      destination: /media2.txt
output:
  image:
    format: iso
YAML
gen2=$T_TMP/out/gen2.iso
rc=0; build "$cfg/gen2.yaml" "$gen2" "$T_TMP/gen2.log" || rc=$?
check_eq "full-os ISO → ISO with OS changes succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || { tail -30 "$T_TMP/gen2.log"; t_done; exit 1; }
log=$(cat "$T_TMP/gen2.log")
check_contains "the root is rebuilt from the initramfs" "$log" "root rebuilt from /boot/initrd.img"
check_not_contains "no dracut (full-os again)" "$log" "[dracut]"
check_eq "the input ISO is unchanged" "$gen1_sum" "$(sha256sum < "$gen1")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"

initrd_of "$gen1" "$T_TMP/g1"
initrd_of "$gen2" "$T_TMP/g2"
check "the new ISO has a full-os initramfs" test -s "$T_TMP/g2/initrd.img"
check_eq "the new ISO has no squashfs" "" \
    "$(xorriso -indev "$gen2" -find /LiveOS -type f 2>/dev/null | grep rootfs || true)"
i2=$T_TMP/g2/initrd.img
check_eq "first generation's file" "first generation" "$(member "$i2" etc/gen1.txt)"
check_eq "second generation's file" "second generation" "$(member "$i2" etc/gen2.txt)"
check_eq "the new hostname" "gen-two" "$(member "$i2" etc/hostname)"
passwd=$(member "$i2" etc/passwd)
check_contains "first generation's user" "$passwd" "alice:x:1501:"
check_contains "second generation's user" "$passwd" "bob:x:1502:"
l1=$(listing "$T_TMP/g1/initrd.img")
l2=$(listing "$i2")
check_contains "gen1 file mode and owner kept" "$l2" "-rw-r----- 0 0 etc/gen1.txt"
check_contains "gen2 file mode" "$l2" "-rw------- 0 0 etc/gen2.txt"
check_contains "alice's home keeps its owner" "$l2" "1501 1501 home/alice"
check_contains "bob's home is bob's" "$l2" "1502 1502 home/bob"
# Every entry of generation 1 is in generation 2 with the same mode, owner
# and type, but the few the second customization rewrites.
changed=$(comm -23 <(echo "$l1") <(echo "$l2") | grep -v -E ' (etc/(passwd|group|shadow|gshadow|subuid|subgid|hostname|hosts)(-)?|var/log/.*|var/cache/.*|var/lib/.*|etc/ld.so.cache|etc/machine-id|etc/image-customizer-release|usr/lib/os-release|etc/os-release)$' || true)
check_eq "generation 1's entries kept (mode, owner, type)" "" "$changed"
check_contains "setuid binaries keep their bit" "$l2" "-rwsr-xr-x 0 0 usr/bin/passwd"
# iso_cat ISO PATH: one file of the ISO.
iso_cat() { rm -f "$T_TMP/iso_cat"; xorriso -osirrox on -indev "$1" -extract "$2" "$T_TMP/iso_cat" >/dev/null 2>&1 &&
    cat "$T_TMP/iso_cat"; }
check_contains "old and new arguments" "$(iso_cat "$gen2" /boot/grub/grub.cfg)" "imgrecipe.gen=1 imgrecipe.gen=2"
check_eq "the media's old file kept" "media one" "$(iso_cat "$gen2" /media1.txt)"
check_eq "the new media file" "media two" "$(iso_cat "$gen2" /media2.txt)"

# ---- ISO → pxe-dir (full-os: the input's type) with an OS change ----
cat > "$cfg/pxe.yaml" <<'YAML'
input:
  image:
    path: ../out/gen1.iso
os:
  additionalFiles:
    - content: "pxe generation\n"
      destination: /etc/pxe.txt
output:
  image:
    format: pxe-dir
YAML
rc=0; build "$cfg/pxe.yaml" "$T_TMP/out/pxe" "$T_TMP/pxe.log" || rc=$?
check_eq "full-os ISO → pxe-dir with an OS change succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/pxe.log"
if [[ $rc -eq 0 ]]; then
    pi=$T_TMP/out/pxe/boot/initrd.img
    check_eq "the PXE initramfs has the first generation" "first generation" "$(member "$pi" etc/gen1.txt)"
    check_eq "the PXE initramfs has the new file" "pxe generation" "$(member "$pi" etc/pxe.txt)"
    check_eq "the media's file is in the tree" "media one" "$(cat "$T_TMP/out/pxe/media1.txt" 2>/dev/null)"
fi

# ---- failure: a truncated initramfs in the input ISO ----
head -c 300000 "$T_TMP/g1/initrd.img" > "$T_TMP/short.img"
xorriso -indev "$gen1" -outdev "$T_TMP/out/bad.iso" -boot_image any replay \
    -update "$T_TMP/short.img" /boot/initrd.img -commit >/dev/null 2>&1
sed 's|gen1.iso|bad.iso|' "$cfg/gen2.yaml" > "$cfg/bad.yaml"
rc=0; build "$cfg/bad.yaml" "$T_TMP/out/bad-out.iso" "$T_TMP/bad.log" || rc=$?
check "a truncated initramfs fails" test "$rc" -ne 0
msg=$(cat "$T_TMP/bad.log")
check_contains "the error names the archive and the truncation" "$msg" "initrd.img: zstd stream at offset 0 is truncated"
check_contains "the error names the step" "$msg" "open iso"
check "no output" test ! -e "$T_TMP/out/bad-out.iso"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "no working files left in the build directory" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"
t_done
