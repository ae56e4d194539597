#!/usr/bin/env bash
# `imgrecipe inspect`: the Debian test image, customized (host name, a user,
# a kernel argument) and written by imgrecipe as raw, COSI and a LiveOS-style
# ISO, plus qcow2, vhdx and vhd conversions, read back with real values checked;
# a run as nobody on the raw image; inputs never modified; no temporary
# files left.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

media=$T_TMP/media
mkdir -p "$media"
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/inspect-media.lua" --param input="$IMG_PATH" \
    --param dir="$media" --build-dir "$T_TMP/b" 2> "$T_TMP/make.log" || { tail -20 "$T_TMP/make.log"; exit 1; }
qemu-img convert -O qcow2 "$media/disk.raw" "$media/disk.qcow2"
qemu-img convert -O vhdx "$media/disk.raw" "$media/disk.vhdx"
qemu-img convert -O vpc -o subformat=dynamic,force_size=on "$media/disk.raw" "$media/disk.vhd"
(cd "$media" && sha256sum disk.raw disk.qcow2 disk.vhdx disk.vhd disk.cosi live.iso) > "$T_TMP/sums"

CHECK="/usr/bin/python3 $TESTS_DIR/integration/helpers/inspect_check.py"
common=(hostname=inspect-host "kernel=$KERNEL_VERSION" user=inspector:1234 package=systemd package_format=dpkg
        os_id=debian init=systemd bootloader=grub)
disk=(table=gpt partitions=2 "root_uuid=$ROOT_UUID" "esp_uuid=$ESP_UUID" cmdline=inspect.marker=1)
scratch=$T_TMP/scratch
mkdir "$scratch"
inspect_json() {  # FILE KEY=VALUE...
    local f=$1 out
    shift
    set +e
    "$IMGRECIPE" inspect --json --build-dir "$scratch" "$media/$f" > "$T_TMP/$f.json" 2> "$T_TMP/$f.err"
    local rc=$?
    set -e
    check_eq "$f: inspect exits 0" 0 "$rc"
    out=$($CHECK "$@" < "$T_TMP/$f.json" 2>&1) && rc=0 || rc=$?
    check_eq "$f: values ($*)" 0 "$rc$(grep FAIL <<<"$out" | sed 's/^/ /' || true)"
    check_eq "$f: no temporary file left" "" "$(ls -A "$scratch")"
}
inspect_json disk.raw format=raw "${common[@]}" "${disk[@]}"
inspect_json disk.qcow2 format=qcow2 "${common[@]}" "${disk[@]}"
inspect_json disk.vhdx format=vhdx "${common[@]}" "${disk[@]}"
inspect_json disk.vhd format=vhd "${common[@]}" "${disk[@]}"
inspect_json disk.cosi format=cosi "${common[@]}" "${disk[@]}"
# The live ISO's command line is its media's grub.cfg's.
inspect_json live.iso format=iso table=none "${common[@]}" cmdline=inspect.live=1

# SIGTERM during the qcow2 conversion: exits 143 naming the signal, and the
# raw copy, its directory and the loop device reserved for it are gone.
# qemu-img convert is held back 3 s (a PATH shim) so the signal always lands
# during the conversion: on an idle machine the real one takes a fraction of a
# second, and a fixed sleep raced with it.
mkdir -p "$T_TMP/slowbin"
printf '#!/bin/sh\n[ "$1" = convert ] && sleep 3\nexec %s "$@"\n' "$(command -v qemu-img)" > "$T_TMP/slowbin/qemu-img"
chmod 755 "$T_TMP/slowbin/qemu-img"
PATH="$T_TMP/slowbin:$PATH" "$IMGRECIPE" inspect --build-dir "$scratch" "$media/disk.qcow2" > /dev/null 2> "$T_TMP/term.err" &
pid=$!
for _ in $(seq 50); do
    grep -q 'converting' "$T_TMP/term.err" 2>/dev/null && break
    sleep 0.1
done
sleep 0.3
kill -TERM "$pid" 2>/dev/null || true
set +e
wait "$pid"
rc=$?
set -e
check_eq "SIGTERM: exit 143" 143 "$rc"
check_contains "SIGTERM: says so" "$(cat "$T_TMP/term.err")" "interrupted by signal 15"
check_eq "SIGTERM: no temporary file left" "" "$(ls -A "$scratch")"
check_eq "SIGTERM: no loop device left" "" "$(losetup -n -O BACK-FILE -l 2>/dev/null | grep -F "$scratch" || true)"

# The human report.
text=$("$IMGRECIPE" inspect "$media/disk.raw")
check_contains "text: host name" "$text" "hostname:   inspect-host"
check_contains "text: kernel" "$text" "kernels:    $KERNEL_VERSION"
check_contains "text: root filesystem" "$text" "ext4     uuid $ROOT_UUID"
check_contains "text: a user" "$text" "inspector        uid 1234"
check_contains "text: cmdline" "$text" "inspect.marker=1"

# No root needed for a raw image (and for qcow2: qemu-img runs as the user).
chmod 711 "$T_TMP"
chmod 755 "$media"
chmod 644 "$media"/*
for f in disk.raw disk.qcow2; do
    set +e
    setpriv --reuid=nobody --regid=nogroup --clear-groups env TMPDIR=/var/tmp \
        "$IMGRECIPE" inspect --json "$media/$f" > "$T_TMP/nobody-$f.json" 2> "$T_TMP/nobody.err"
    rc=$?
    set -e
    check_eq "$f as nobody: exits 0" 0 "$rc"
    out=$($CHECK "${common[@]}" "${disk[@]}" < "$T_TMP/nobody-$f.json" 2>&1) && rc=0 || rc=$?
    check_eq "$f as nobody: values" 0 "$rc$(grep FAIL <<<"$out" | sed 's/^/ /' || true)"
done

check "inputs unchanged" bash -c "cd '$media' && sha256sum --quiet -c '$T_TMP/sums'"

# An rpm OS on a filesystem over the whole disk (no partition table): the rpm
# database (sqlite, with its WAL) read through a copy by the host's rpm.
rpmd=$T_TMP/rpm
mkdir -p "$rpmd/top/SPECS" "$rpmd/rpms" "$rpmd/root/etc" "$rpmd/root/usr/lib"
cat > "$rpmd/top/SPECS/p.spec" <<'SPEC'
Name: inspect-probe
Version: 2.5
Release: 3
Summary: imgrecipe inspect test package
License: MIT
BuildArch: noarch
AutoReqProv: no
%description
imgrecipe inspect test package
%install
mkdir -p %{buildroot}/usr/share/inspect-probe
echo x > %{buildroot}/usr/share/inspect-probe/x
%files
/usr/share/inspect-probe/x
SPEC
rpmbuild -bb --define "_topdir $rpmd/top" --define "_rpmdir $rpmd/rpms" --define "_dbpath $rpmd/top/db" \
    --define "_build_name_fmt %%{NAME}.rpm" "$rpmd/top/SPECS/p.spec" > "$rpmd/log" 2>&1
rpm --root "$rpmd/root" --dbpath /var/lib/rpm -i --nodeps "$rpmd/rpms/inspect-probe.rpm" 2>/dev/null
printf 'ID=azurelinux\nVERSION_ID=3.0\n' > "$rpmd/root/usr/lib/os-release"
ln -s ../usr/lib/os-release "$rpmd/root/etc/os-release"
echo "root:x:0:0:root:/root:/bin/bash" > "$rpmd/root/etc/passwd"
echo rpm-host > "$rpmd/root/etc/hostname"
truncate -s 64M "$rpmd/fs.img"
mkfs.ext4 -q -F -d "$rpmd/root" "$rpmd/fs.img"
"$IMGRECIPE" inspect --json "$rpmd/fs.img" > "$T_TMP/rpm.json"
out=$($CHECK table=none hostname=rpm-host os_id=azurelinux package_format=rpm package=inspect-probe \
      user=root:0 < "$T_TMP/rpm.json" 2>&1) && rc=0 || rc=$?
check_eq "rpm OS on a whole-disk ext4: values" 0 "$rc$(grep FAIL <<<"$out" | sed 's/^/ /' || true)"
check_contains "rpm version is version-release" "$(cat "$T_TMP/rpm.json")" '"name": "inspect-probe", "version": "2.5-3", "arch": "noarch"'

# btrfs can only be read mounted: as root through a read-only loop mount in
# a private namespace (nothing left behind); as nobody it is listed with a note.
truncate -s 200M "$rpmd/btrfs.img"
mkfs.btrfs -q -r "$rpmd/root" "$rpmd/btrfs.img" > /dev/null 2>&1
(cd "$rpmd" && sha256sum btrfs.img) > "$T_TMP/btrfs.sum"
"$IMGRECIPE" inspect --json --build-dir "$scratch" "$rpmd/btrfs.img" > "$T_TMP/btrfs.json"
out=$($CHECK table=none hostname=rpm-host package=inspect-probe < "$T_TMP/btrfs.json" 2>&1) && rc=0 || rc=$?
check_eq "btrfs as root: values" 0 "$rc$(grep FAIL <<<"$out" | sed 's/^/ /' || true)"
check_eq "btrfs as root: no loop device left" "" "$(losetup -n -O BACK-FILE -l 2>/dev/null | grep -F "$rpmd" || true)"
check_eq "btrfs as root: no temporary file left" "" "$(ls -A "$scratch")"
check "btrfs image unchanged" bash -c "cd '$rpmd' && sha256sum --quiet -c '$T_TMP/btrfs.sum'"
chmod 755 "$rpmd"
chmod 644 "$rpmd/btrfs.img"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups env TMPDIR=/var/tmp "$IMGRECIPE" inspect --json "$rpmd/btrfs.img")
check_contains "btrfs as nobody: says what was skipped" "$out" "btrfs files are not read: that needs a read-only mount, which needs root"
check_contains "btrfs as nobody: no OS" "$out" '"os": null'

# systemd-boot and a UKI on an ESP that fstab mounts at /efi (made without
# root: sfdisk, mkfs.vfat --offset, mcopy, mkfs.ext4 -d). The UKI is a GRUB EFI
# image with .cmdline and .uname sections added by objcopy (a PE like a UKI).
uki=$T_TMP/uki
mkdir -p "$uki/root/etc" "$uki/root/usr/lib"
grub-mkimage -O x86_64-efi -o "$uki/base.efi" -p /EFI/BOOT normal
printf 'root=PARTLABEL=root ro uki.marker=1' > "$uki/cmdline"
printf '6.6.99-uki' > "$uki/uname"
objcopy --add-section .cmdline="$uki/cmdline" --change-section-vma .cmdline=0x30000 \
    --add-section .uname="$uki/uname" --change-section-vma .uname=0x40000 "$uki/base.efi" "$uki/test.efi"
printf 'title Test entry\nlinux /vmlinuz-6.6.99\noptions root=PARTLABEL=root ro entry.marker=1\n' > "$uki/entry.conf"
printf 'ID=ukios\n' > "$uki/root/usr/lib/os-release"
ln -s ../usr/lib/os-release "$uki/root/etc/os-release"
printf 'PARTLABEL=esp /efi vfat umask=0077 0 2\n' > "$uki/root/etc/fstab"
echo "root:x:0:0:root:/root:/bin/bash" > "$uki/root/etc/passwd"
truncate -s 100M "$uki/disk.img"
printf 'label: gpt\nstart=2048, size=65536, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp\nstart=67584, size=133120, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n' \
    | sfdisk -q "$uki/disk.img"
mkfs.vfat -F 16 --offset=2048 "$uki/disk.img" 32768 > /dev/null 2>&1
export MTOOLS_SKIP_CHECK=1
esp="$uki/disk.img@@1048576"
mmd -i "$esp" ::/EFI ::/EFI/Linux ::/EFI/systemd ::/loader ::/loader/entries
mcopy -i "$esp" "$uki/test.efi" ::/EFI/Linux/test.efi
mcopy -i "$esp" "$uki/base.efi" ::/EFI/systemd/systemd-bootx64.efi
mcopy -i "$esp" "$uki/entry.conf" ::/loader/entries/test.conf
mkfs.ext4 -q -F -E offset=$((67584 * 512)) -d "$uki/root" "$uki/disk.img" $((133120 / 2))k
"$IMGRECIPE" inspect --json "$uki/disk.img" > "$T_TMP/sdboot.json"
out=$($CHECK bootloader=systemd-boot cmdline=entry.marker=1 kernel=6.6.99-uki os_id=ukios < "$T_TMP/sdboot.json" 2>&1) && rc=0 || rc=$?
check_eq "systemd-boot: values" 0 "$rc$(grep FAIL <<<"$out" | sed 's/^/ /' || true)"
check_contains "systemd-boot: the UKI's command line" "$(cat "$T_TMP/sdboot.json")" \
    '"source": "/efi/EFI/Linux/test.efi", "title": "UKI", "kernel": "6.6.99-uki", "cmdline": "root=PARTLABEL=root ro uki.marker=1"'
# Only the UKI (the firmware boots it directly).
mdeltree -i "$esp" ::/loader ::/EFI/systemd
"$IMGRECIPE" inspect --json "$uki/disk.img" > "$T_TMP/uki.json"
out=$($CHECK bootloader=uki cmdline=uki.marker=1 kernel=6.6.99-uki < "$T_TMP/uki.json" 2>&1) && rc=0 || rc=$?
check_eq "UKI only: values" 0 "$rc$(grep FAIL <<<"$out" | sed 's/^/ /' || true)"

# Not an OS image: a report without an OS, exit 0; a missing file: usage error.
head -c 1048576 /dev/zero > "$T_TMP/zeros.img"
out=$("$IMGRECIPE" inspect --json "$T_TMP/zeros.img")
check_contains "blank disk: no OS" "$out" '"os": null'
check_contains "blank disk: says why" "$out" "no filesystem that can be read holds an OS"
set +e
"$IMGRECIPE" inspect "$T_TMP/missing.img" > /dev/null 2>&1
rc=$?
set -e
check_eq "missing image: usage error" 2 "$rc"
t_done
