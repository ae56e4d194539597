#!/usr/bin/env bash
# build-image.sh — build (or reuse from cache) a base disk image for imgrecipe tests.
#
# Usage: tests/images/build-image.sh [--force] [--force-rootfs] [--prune] VARIANT
#
# Prints ONLY the absolute path of the raw image on stdout; all logs and timings
# go to stderr. Next to the image, image.env (shell KEY=VALUE lines, safe to
# source) describes it: partition offsets/sizes in bytes, UUIDs, kernel version.
# The cached image file is made read-only (0444): tests must copy it (cp
# --sparse=always, qemu-img convert, or qemu's snapshot=on) before changing it.
#
# Variants (both: GPT, 512-byte sectors, p1 = FAT32 ESP type
# C12A7328-F81F-11D2-BA4B-00A0C93EC93B (/boot/efi, umask=0077), p2 = ext4 root
# type 4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, fstab by UUID=, merged /usr):
#
#   debian-base  BOOTABLE Debian 12 (bookworm) UEFI image, 2 GiB sparse raw
#                (~400 MiB allocated). p1 = 100 MiB ESP holding EFI/BOOT/BOOTX64.EFI,
#                made by grub-mkimage -O x86_64-efi inside the rootfs (chroot); its
#                embedded config searches the root fs by UUID, sets
#                prefix=($root)/boot/grub and does configfile ($root)/boot/grub/grub.cfg.
#                p2 = ext4 root: debootstrap --variant=minbase + systemd-sysv udev kmod
#                linux-image-cloud-amd64 initramfs-tools zstd grub-efi-amd64-bin
#                e2fsprogs dosfstools dbus ca-certificates. /boot/grub/grub.cfg is
#                written in Debian grub-mkconfig form (GRUB_TERMINAL=console,
#                timeout 1 s, tab after `linux`/`initrd`), matching /etc/default/grub
#                (GRUB_CMDLINE_LINUX="console=ttyS0,115200n8", _DEFAULT=""); GRUB
#                modules are also copied to /boot/grub/x86_64-efi and an empty
#                /boot/grub/grubenv is created, as grub-install would. Hostname
#                "debian-base"; root has an EMPTY password (serial-console debugging;
#                the guest has no network); /etc/machine-id is empty (first boot
#                generates one). Boots under OVMF (Secure Boot off) to
#                "debian-base login:" on ttyS0 (see tests/lib/boot-check.sh).
#   tiny         NOT bootable, 64 MiB sparse raw, for fast tests. p1 = 36 MiB FAT32
#                ESP with EFI/BOOT/grub.cfg (search.fs_uuid + configfile) and a dummy
#                EFI/BOOT/BOOTX64.EFI; p2 = ext4 (~26 MiB) with busybox-static
#                (/usr/bin/busybox + applet symlinks: /bin/sh, /bin/cat, /bin/ls,
#                /usr/bin/env, ...), /etc/{passwd,group,shadow} (root locked),
#                /etc/fstab, /etc/hostname "tiny", /etc/os-release (regular file,
#                ID=imgrecipe-tiny), /etc/default/grub, /boot/grub/grub.cfg
#                (grub-mkconfig form, `linux<TAB>/boot/vmlinuz-0 root=UUID=<uuid> ro quiet`),
#                dummy /boot/vmlinuz-0, /boot/initrd.img-0 and /lib/modules/0/modules.dep
#                (empty; for the installed-kernel check), and symlink cases:
#                  /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf (dangling)
#                  /etc/evil        -> /tmp (absolute; must resolve inside the image)
#                  /etc/evil2       -> ../../../../tmp/imgrecipe-escape-test
#   debian-rpm   debian-base plus Debian's dnf and rpm packages (its own debootstrap
#                tarball), hostname "debian-rpm", /etc/rpm/macros.imgrecipe setting
#                %_dbpath /var/lib/rpm (Debian's rpm defaults to ~/.rpmdb) and an
#                initialized, empty rpm database there. For the dnf code path of the
#                package tests; not meant to boot.
#
# Cache (${IMGRECIPE_CACHE_DIR:-/var/cache/imgrecipe}):
#   images/<variant>-<key16>/{disk.raw,image.env}  key = sha256 of this script,
#                                                   tests/lib/common.sh and the variant
#   rootfs/debian-bookworm-minbase-<key16>.tar.zst  pristine debootstrap output; key =
#                                                   sha256 of the debootstrap definition
#                                                   (ROOTFS_DEF below, bump its format=
#                                                   when the tarball recipe changes)
#   debs/        debootstrap --cache-dir, plus the busybox-static .deb
#   tmp/         build directories (removed on exit), renamed into place atomically
#   locks/       flock files; concurrent builds of the same key wait for each other
# Nothing is ever mounted by this script (debootstrap itself mounts /proc and /sys
# inside its target while it runs; leftovers are unmounted on exit).
#
# Options: --force         rebuild the image even if cached (rootfs tarball reused)
#          --force-rootfs  also redo debootstrap
#          --prune         afterwards delete cached images of this variant with other keys
# Environment: IMGRECIPE_CACHE_DIR, IMGRECIPE_MIRROR (default: from apt-get indextargets),
#              IMGRECIPE_VERBOSE=1 (stream debootstrap output to stderr)
# Needs root and: debootstrap setsid sfdisk mkfs.vfat mcopy mmd mdir mkfs.ext4 e2fsck zstd
#                 flock dpkg-deb apt-get (tiny: for busybox-static if not cached).
set -euo pipefail

IR_PROG=build-image.sh
SCRIPT_PATH=$(readlink -f -- "${BASH_SOURCE[0]}")
SCRIPT_DIR=${SCRIPT_PATH%/*}
COMMON=$SCRIPT_DIR/../lib/common.sh
# shellcheck source=tests/lib/common.sh
. "$COMMON"

usage() {
    sed -n '2,4p' "$SCRIPT_PATH" | sed 's/^# \{0,1\}//' >&2
    echo "Variants: debian-base, tiny, debian-rpm. See the header of $SCRIPT_PATH." >&2
    exit 2
}

FORCE=0 FORCE_ROOTFS=0 PRUNE=0 VARIANT=''
while (($#)); do
    case $1 in
        --force) FORCE=1 ;;
        --force-rootfs) FORCE=1 FORCE_ROOTFS=1 ;;
        --prune) PRUNE=1 ;;
        -h | --help) usage ;;
        -*) ir_warn "unknown option $1"; usage ;;
        *) [[ -z $VARIANT ]] || usage; VARIANT=$1 ;;
    esac
    shift
done
[[ -n $VARIANT ]] || usage

export LC_ALL=C DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/sbin:/sbin"
export MTOOLS_SKIP_CHECK=1

SECTOR=512
ESP_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
ROOT_TYPE=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709

SUITE=bookworm
DEBOOTSTRAP_INCLUDE=systemd-sysv,udev,kmod,linux-image-cloud-amd64,initramfs-tools,zstd,grub-efi-amd64-bin,e2fsprogs,dosfstools,dbus,ca-certificates
GRUB_MODULES="part_gpt part_msdos fat ext2 normal linux boot chain configfile search search_fs_uuid
 search_fs_file search_label echo test true gzio xzio zstd all_video efi_gop efi_uga video_bochs
 video_cirrus loadenv minicmd ls cat halt reboot sleep efifwsetup regexp gettext terminal font
 gfxterm probe"

case $VARIANT in
    debian-base) DISK_MIB=2048 ESP_MIB=100 HOSTNAME_=debian-base ;;
    tiny) DISK_MIB=64 ESP_MIB=36 HOSTNAME_=tiny ;;
    debian-rpm) DISK_MIB=2048 ESP_MIB=100 HOSTNAME_=debian-rpm ;;
    *) ir_warn "unknown variant '$VARIANT'"; usage ;;
esac
[[ $VARIANT == debian-rpm ]] && DEBOOTSTRAP_INCLUDE+=,dnf,rpm
ROOTFS_DEF="format=1 suite=$SUITE arch=amd64 variant=minbase include=$DEBOOTSTRAP_INCLUDE"

[[ $EUID -eq 0 ]] || ir_die "must run as root"
ir_need sfdisk mkfs.vfat mcopy mmd mdir mkfs.ext4 e2fsck zstd flock tar sha256sum truncate
[[ $VARIANT == tiny ]] && ir_need dpkg-deb
[[ $VARIANT == debian-* ]] && ir_need debootstrap chroot setsid

CACHE_DIR=${IMGRECIPE_CACHE_DIR:-/var/cache/imgrecipe}
mkdir -p -- "$CACHE_DIR"
CACHE_DIR=$(cd -- "$CACHE_DIR" && pwd -P)
mkdir -p "$CACHE_DIR"/{images,rootfs,debs,tmp,locks}

KEY=$( { cat "$SCRIPT_PATH" "$COMMON"; printf '\nvariant=%s disk=%s esp=%s host=%s\n' \
    "$VARIANT" "$DISK_MIB" "$ESP_MIB" "$HOSTNAME_"; } | ir_sha256)
IMG_DIR=$CACHE_DIR/images/$VARIANT-${KEY:0:16}
IMG=$IMG_DIR/disk.raw
T_START=$(ir_now)

prune() {
    ((PRUNE)) || return 0
    local d
    for d in "$CACHE_DIR/images/$VARIANT"-*; do
        [[ -d $d && $d != "$IMG_DIR" ]] || continue
        ir_log "prune: removing stale $d"
        rm -rf --one-file-system -- "$d"
    done
}

if ((!FORCE)) && [[ -f $IMG && -f $IMG_DIR/image.env ]]; then
    ir_log "$VARIANT: cache hit ($IMG_DIR) in $(ir_elapsed "$T_START") s"
    prune
    printf '%s\n' "$IMG"
    exit 0
fi

# --- locking and temp dir ---------------------------------------------------
TMP=
DEBOOTSTRAP_PID=
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM HUP
    if [[ -n $DEBOOTSTRAP_PID ]] && kill -0 "$DEBOOTSTRAP_PID" 2>/dev/null; then
        ir_warn "stopping debootstrap (process group $DEBOOTSTRAP_PID)"
        kill -TERM -- "-$DEBOOTSTRAP_PID" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 -- "-$DEBOOTSTRAP_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$DEBOOTSTRAP_PID" 2>/dev/null || true
        wait "$DEBOOTSTRAP_PID" 2>/dev/null || true
    fi
    if [[ -n $TMP ]]; then ir_rm_tree "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# with_lock NAME: take an exclusive flock on locks/NAME.lock (fd kept open until exit).
with_lock() {
    local f=$CACHE_DIR/locks/$1.lock fd
    exec {fd}>"$f"
    if ! flock -n "$fd"; then
        ir_log "waiting for another build holding $f"
        flock -w 3600 "$fd" || ir_die "timed out waiting for $f"
    fi
}

with_lock "image-$VARIANT-${KEY:0:16}"
if ((!FORCE)) && [[ -f $IMG && -f $IMG_DIR/image.env ]]; then
    ir_log "$VARIANT: built by a concurrent run; cache hit in $(ir_elapsed "$T_START") s"
    printf '%s\n' "$IMG"
    exit 0
fi
TMP=$(mktemp -d "$CACHE_DIR/tmp/$VARIANT.XXXXXX")
ROOT=$TMP/root
OUT=$TMP/out
ESPDIR=$TMP/esp
mkdir -p "$ROOT" "$OUT" "$ESPDIR"
ir_log "$VARIANT: building image (key ${KEY:0:16}) in $TMP"

# --- identities derived from the key (stable for a given definition) --------
ROOT_UUID=$(ir_uuid_from "$KEY/root-fs")
ESP_VOLID_HEX=$(printf '%s' "$KEY/esp-fs" | sha256sum | cut -c1-8 | tr a-f A-F)
ESP_UUID=${ESP_VOLID_HEX:0:4}-${ESP_VOLID_HEX:4:4}
DISK_GUID=$(ir_uuid_from "$KEY/disk")
ESP_PARTUUID=$(ir_uuid_from "$KEY/esp-part")
ROOT_PARTUUID=$(ir_uuid_from "$KEY/root-part")
HASH_SEED=$(ir_uuid_from "$KEY/root-hash-seed")

mirror_url() {
    if [[ -n ${IMGRECIPE_MIRROR:-} ]]; then
        printf '%s\n' "$IMGRECIPE_MIRROR"
        return
    fi
    local m
    # shellcheck disable=SC2016 # $(...) is apt's format syntax
    m=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null \
        | awk -v s="$SUITE" '$2 == s && $1 !~ /security/ { print $1; exit }') || true
    [[ -n $m ]] || ir_die "no apt mirror for '$SUITE' in this machine's apt configuration (apt-get indextargets lists none); configure an apt source or set IMGRECIPE_MIRROR"
    printf '%s\n' "$m"
}

# --- debian-base rootfs tarball ----------------------------------------------
# ensure_rootfs -> sets ROOTFS_TAR (cached pristine debootstrap output).
ensure_rootfs() {
    local rkey t0 work mirror
    rkey=$(printf '%s\n' "$ROOTFS_DEF" | ir_sha256)
    ROOTFS_TAR=$CACHE_DIR/rootfs/debian-$SUITE-minbase-${rkey:0:16}.tar.zst
    if ((!FORCE_ROOTFS)) && [[ -f $ROOTFS_TAR ]]; then
        ir_log "rootfs: cache hit $ROOTFS_TAR"
        return
    fi
    with_lock "rootfs-${rkey:0:16}"
    if ((!FORCE_ROOTFS)) && [[ -f $ROOTFS_TAR ]]; then
        ir_log "rootfs: built by a concurrent run"
        return
    fi
    t0=$(ir_now)
    mirror=$(mirror_url)
    work=$TMP/debootstrap
    mkdir -p "$work/root"
    ir_log "rootfs: debootstrap $SUITE from $mirror (debs cached in $CACHE_DIR/debs)"
    local -a cmd=(debootstrap --variant=minbase --arch=amd64 --include="$DEBOOTSTRAP_INCLUDE"
        --cache-dir="$CACHE_DIR/debs" "$SUITE" "$work/root" "$mirror")
    # Run it in its own session, in the background: our signal traps fire at once
    # and cleanup() can stop the whole debootstrap process group.
    local rc=0
    if [[ ${IMGRECIPE_VERBOSE:-0} == 1 ]]; then
        setsid "${cmd[@]}" </dev/null >&2 &
    else
        setsid "${cmd[@]}" </dev/null >"$work/debootstrap.log" 2>&1 &
    fi
    DEBOOTSTRAP_PID=$!
    wait "$DEBOOTSTRAP_PID" || rc=$?
    DEBOOTSTRAP_PID=
    if ((rc)); then
        [[ -f $work/debootstrap.log ]] && tail -n 40 "$work/debootstrap.log" >&2
        ir_die "debootstrap failed with status $rc"
    fi
    ir_umount_under "$work/root"
    ir_log "rootfs: debootstrap done in $(ir_elapsed "$t0") s"
    # Keep the tarball lean: no .debs, no apt binary caches.
    rm -f "$work/root"/var/cache/apt/archives/*.deb "$work/root"/var/cache/apt/*.bin
    rm -rf "$work/root"/debootstrap
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$work/root" -cf - . \
        | zstd -q -T0 -3 -o "$work/rootfs.tar.zst"
    mv -f "$work/rootfs.tar.zst" "$ROOTFS_TAR"
    ir_rm_tree "$work"
    ir_log "rootfs: cached $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1)) after $(ir_elapsed "$t0") s"
}

# grub_cfg KVER ARGS [INITRD] -> a /boot/grub/grub.cfg as Debian's grub-mkconfig writes it
# for GRUB_TERMINAL=console, GRUB_TIMEOUT=1, root fs = $ROOT_UUID, /boot on the root fs.
grub_cfg() {
    local kver=$1 args=$2 initrd=${3:-1}
    local ro="ro${args:+ $args}" single="ro single${args_linux:+ $args_linux}"
    cat <<EOF
#
# DO NOT EDIT THIS FILE
#
# It is automatically generated by grub-mkconfig using templates
# from /etc/grub.d and settings from /etc/default/grub
#

### BEGIN /etc/grub.d/00_header ###
if [ -s \$prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "\${next_entry}" ] ; then
   set default="\${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="0"
fi

if [ x"\${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

if [ "\${prev_saved_entry}" ]; then
  set saved_entry="\${prev_saved_entry}"
  save_env saved_entry
  set prev_saved_entry=
  save_env prev_saved_entry
  set boot_once=true
fi

function savedefault {
  if [ -z "\${boot_once}" ]; then
    saved_entry="\${chosen}"
    save_env saved_entry
  fi
}
function load_video {
  if [ x\$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod efi_uga
    insmod ieee1275_fb
    insmod vbe
    insmod vga
    insmod video_bochs
    insmod video_cirrus
  fi
}

terminal_input console
terminal_output console
if [ x\$feature_timeout_style = xy ] ; then
  set timeout_style=menu
  set timeout=1
# Fallback normal timeout code in case the timeout_style feature is
# unavailable.
else
  set timeout=1
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/05_debian_theme ###
set menu_color_normal=cyan/blue
set menu_color_highlight=white/blue
### END /etc/grub.d/05_debian_theme ###

### BEGIN /etc/grub.d/10_linux ###
function gfxmode {
	set gfxpayload="\${1}"
}
set linux_gfx_mode=
export linux_gfx_mode
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os \$menuentry_id_option 'gnulinux-simple-$ROOT_UUID' {
	load_video
	insmod gzio
	if [ x\$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
	insmod part_gpt
	insmod ext2
	search --no-floppy --fs-uuid --set=root $ROOT_UUID
	echo	'Loading Linux $kver ...'
	linux	/boot/vmlinuz-$kver root=UUID=$ROOT_UUID $ro
EOF
    if ((initrd)); then
        printf "\techo\t'Loading initial ramdisk ...'\n\tinitrd\t/boot/initrd.img-%s\n" "$kver"
    fi
    cat <<EOF
}
submenu 'Advanced options for Debian GNU/Linux' \$menuentry_id_option 'gnulinux-advanced-$ROOT_UUID' {
	menuentry 'Debian GNU/Linux, with Linux $kver' --class debian --class gnu-linux --class gnu --class os \$menuentry_id_option 'gnulinux-$kver-advanced-$ROOT_UUID' {
		load_video
		insmod gzio
		if [ x\$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
		insmod part_gpt
		insmod ext2
		search --no-floppy --fs-uuid --set=root $ROOT_UUID
		echo	'Loading Linux $kver ...'
		linux	/boot/vmlinuz-$kver root=UUID=$ROOT_UUID $ro
EOF
    if ((initrd)); then
        printf "\t\techo\t'Loading initial ramdisk ...'\n\t\tinitrd\t/boot/initrd.img-%s\n" "$kver"
    fi
    cat <<EOF
	}
	menuentry 'Debian GNU/Linux, with Linux $kver (recovery mode)' --class debian --class gnu-linux --class gnu --class os \$menuentry_id_option 'gnulinux-$kver-recovery-$ROOT_UUID' {
		load_video
		insmod gzio
		if [ x\$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
		insmod part_gpt
		insmod ext2
		search --no-floppy --fs-uuid --set=root $ROOT_UUID
		echo	'Loading Linux $kver ...'
		linux	/boot/vmlinuz-$kver root=UUID=$ROOT_UUID $single
EOF
    if ((initrd)); then
        printf "\t\techo\t'Loading initial ramdisk ...'\n\t\tinitrd\t/boot/initrd.img-%s\n" "$kver"
    fi
    cat <<EOF
	}
}

### END /etc/grub.d/10_linux ###

### BEGIN /etc/grub.d/20_linux_xen ###
### END /etc/grub.d/20_linux_xen ###

### BEGIN /etc/grub.d/30_os-prober ###
### END /etc/grub.d/30_os-prober ###

### BEGIN /etc/grub.d/30_uefi-firmware ###
menuentry 'UEFI Firmware Settings' \$menuentry_id_option 'uefi-firmware' {
	fwsetup
}
### END /etc/grub.d/30_uefi-firmware ###

### BEGIN /etc/grub.d/40_custom ###
# This file provides an easy way to add custom menu entries.  Simply type the
# menu entries you want to add after this comment.  Be careful not to change
# the 'exec tail' line above.
### END /etc/grub.d/40_custom ###

### BEGIN /etc/grub.d/41_custom ###
if [ -f  \${config_directory}/custom.cfg ]; then
  source \${config_directory}/custom.cfg
elif [ -z "\${config_directory}" -a -f  \$prefix/custom.cfg ]; then
  source \$prefix/custom.cfg
fi
### END /etc/grub.d/41_custom ###
EOF
}

# default_grub LINUX DEFAULT -> /etc/default/grub in Debian's layout.
default_grub() {
    cat <<EOF
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=\`lsb_release -i -s 2> /dev/null || echo Debian\`
GRUB_CMDLINE_LINUX_DEFAULT="$2"
GRUB_CMDLINE_LINUX="$1"

# Uncomment to use the console terminal (no graphical terminal); the serial
# console is driven by the kernel command line above.
GRUB_TERMINAL=console
EOF
}

write_fstab() {
    cat >"$ROOT/etc/fstab" <<EOF
# /etc/fstab: static file system information.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
UUID=$ROOT_UUID /               ext4    errors=remount-ro 0       1
UUID=$ESP_UUID  /boot/efi       vfat    umask=0077      0       1
EOF
}

write_hostname() {
    printf '%s\n' "$HOSTNAME_" >"$ROOT/etc/hostname"
    cat >"$ROOT/etc/hosts" <<EOF
127.0.0.1	localhost
127.0.1.1	$HOSTNAME_

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
EOF
}

# --- variant: debian-base ------------------------------------------------------
populate_debian_base() {
    local t0 kver n
    ensure_rootfs
    t0=$(ir_now)
    zstd -q -d -c "$ROOTFS_TAR" | tar --numeric-owner --xattrs --xattrs-include='*' -xpf - -C "$ROOT"
    ir_log "rootfs: unpacked in $(ir_elapsed "$t0") s"
    t0=$(ir_now)
    # Like Debian's cloud images: no package lists (run apt-get update first).
    find "$ROOT/var/lib/apt/lists" -mindepth 1 -maxdepth 1 -type f -delete

    n=$(find "$ROOT/boot" -maxdepth 1 -name 'vmlinuz-*' | wc -l)
    [[ $n -eq 1 ]] || ir_die "expected exactly one kernel in /boot, found $n"
    kver=$(find "$ROOT/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n')
    kver=${kver#vmlinuz-}
    [[ -f $ROOT/boot/initrd.img-$kver ]] || ir_die "no initrd for $kver"
    KERNEL_VERSION=$kver

    write_hostname
    write_fstab
    mkdir -p "$ROOT/boot/efi"
    chmod 0700 "$ROOT/boot/efi"
    # Empty root password: login as root on the serial console for debugging.
    sed -i -E 's/^root:[^:]*:/root::/' "$ROOT/etc/shadow"
    # Like Debian's cloud images: no machine-id baked into the image.
    : >"$ROOT/etc/machine-id"
    rm -f "$ROOT/var/lib/dbus/machine-id"
    ln -s /etc/machine-id "$ROOT/var/lib/dbus/machine-id"

    args_linux="console=ttyS0,115200n8"
    default_grub "$args_linux" "" >"$ROOT/etc/default/grub"
    mkdir -p "$ROOT/boot/grub"
    grub_cfg "$kver" "$args_linux" 1 >"$ROOT/boot/grub/grub.cfg"
    chmod 0444 "$ROOT/boot/grub/grub.cfg"
    cp -a "$ROOT/usr/lib/grub/x86_64-efi" "$ROOT/boot/grub/"
    chroot "$ROOT" grub-editenv /boot/grub/grubenv create

    # EFI GRUB built inside the rootfs: no host grub involved.
    cat >"$ROOT/tmp/imgrecipe-embedded.cfg" <<EOF
search --no-floppy --fs-uuid --set=root $ROOT_UUID
set prefix=(\$root)/boot/grub
configfile (\$root)/boot/grub/grub.cfg
EOF
    # shellcheck disable=SC2086 # GRUB_MODULES is a word list
    chroot "$ROOT" grub-mkimage -O x86_64-efi -p /EFI/BOOT -c /tmp/imgrecipe-embedded.cfg \
        -o /tmp/imgrecipe-BOOTX64.EFI $GRUB_MODULES
    mkdir -p "$ESPDIR/EFI/BOOT"
    mv "$ROOT/tmp/imgrecipe-BOOTX64.EFI" "$ESPDIR/EFI/BOOT/BOOTX64.EFI"
    rm -f "$ROOT/tmp/imgrecipe-embedded.cfg"
    ir_log "debian-base: rootfs configured (kernel $kver) in $(ir_elapsed "$t0") s"
}

# --- variant: debian-rpm -------------------------------------------------------
populate_debian_rpm() {
    populate_debian_base
    mkdir -p "$ROOT/etc/rpm"
    printf '# imgrecipe test image: the rpm database lives where RPM distributions keep it.\n%%_dbpath /var/lib/rpm\n' \
        >"$ROOT/etc/rpm/macros.imgrecipe"
    mkdir -p "$ROOT/var/lib/rpm"
    chroot "$ROOT" rpm --initdb
    [[ -n $(find "$ROOT/var/lib/rpm" -mindepth 1 -maxdepth 1) ]] || ir_die "rpm --initdb created no database"
}

# --- variant: tiny -------------------------------------------------------------
# busybox_deb -> path of a cached busybox-static .deb (downloaded once).
busybox_deb() {
    local d f
    f=$(find "$CACHE_DIR/debs" -maxdepth 1 -name 'busybox-static_*_amd64.deb' -printf '%f\n' | sort -V | tail -n 1)
    if [[ -z $f ]]; then
        d=$TMP/download
        mkdir -p "$d"
        ir_log "tiny: apt-get download busybox-static"
        (cd "$d" && apt-get download -q -o APT::Sandbox::User=root busybox-static >&2) \
            || ir_die "apt-get download busybox-static failed (try apt-get update)"
        f=$(find "$d" -maxdepth 1 -name 'busybox-static_*.deb' -printf '%f\n' | head -n 1)
        [[ -n $f ]] || ir_die "busybox-static .deb not downloaded"
        mv -f "$d/$f" "$CACHE_DIR/debs/$f"
    fi
    printf '%s\n' "$CACHE_DIR/debs/$f"
}

populate_tiny() {
    local t0 deb bb applet dir name target
    t0=$(ir_now)
    deb=$(busybox_deb)
    dpkg-deb -x "$deb" "$TMP/bb"
    bb=$(find "$TMP/bb" -type f -name busybox -perm -u+x | head -n 1)
    [[ -n $bb ]] || ir_die "no busybox binary in $deb"

    # Merged-/usr skeleton as in Debian 12.
    mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib,usr/lib64,usr/share,etc/default,dev,proc,sys,run,tmp,var/tmp,var/log,var/lib,root,home,boot/grub,boot/efi,mnt,srv,opt}
    ln -s usr/bin "$ROOT/bin"
    ln -s usr/sbin "$ROOT/sbin"
    ln -s usr/lib "$ROOT/lib"
    ln -s usr/lib64 "$ROOT/lib64"
    chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"
    chmod 0700 "$ROOT/root" "$ROOT/boot/efi"
    install -m 0755 "$bb" "$ROOT/usr/bin/busybox"
    while read -r applet; do
        dir=${applet%/*} name=${applet##*/}
        case $dir in
            bin | usr/bin) dir=usr/bin target=busybox ;;
            sbin | usr/sbin) dir=usr/sbin target=../bin/busybox ;;
            *) continue ;;
        esac
        [[ -e $ROOT/$dir/$name || -L $ROOT/$dir/$name ]] || ln -s "$target" "$ROOT/$dir/$name"
    done < <("$ROOT/usr/bin/busybox" --list-full)
    for name in sh cat ls env; do
        [[ -e $ROOT/usr/bin/$name ]] || ir_die "busybox lacks applet $name"
    done

    write_hostname
    write_fstab
    cat >"$ROOT/etc/os-release" <<'EOF'
PRETTY_NAME="imgrecipe tiny test image"
NAME="imgrecipe tiny"
VERSION_ID="1"
VERSION="1"
ID=imgrecipe-tiny
HOME_URL="https://example.invalid/imgrecipe"
EOF
    cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
    cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
shadow:x:42:
users:x:100:
nogroup:x:65534:
EOF
    cat >"$ROOT/etc/shadow" <<'EOF'
root:*:19700:0:99999:7:::
daemon:*:19700:0:99999:7:::
bin:*:19700:0:99999:7:::
sys:*:19700:0:99999:7:::
nobody:*:19700:0:99999:7:::
EOF
    chown 0:42 "$ROOT/etc/shadow"
    chmod 0640 "$ROOT/etc/shadow"
    : >"$ROOT/etc/machine-id"

    # Symlink cases for path-resolution / escape tests.
    ln -s ../run/systemd/resolve/stub-resolv.conf "$ROOT/etc/resolv.conf"
    ln -s /tmp "$ROOT/etc/evil"
    ln -s ../../../../tmp/imgrecipe-escape-test "$ROOT/etc/evil2"

    # Fake kernel so grub.cfg refers to existing files.
    printf 'imgrecipe tiny: dummy kernel\n' >"$ROOT/boot/vmlinuz-0"
    # A non-empty modules dir: builds pass the installed-kernel check.
    mkdir -p "$ROOT/usr/lib/modules/0"
    : >"$ROOT/usr/lib/modules/0/modules.dep"
    printf 'imgrecipe tiny: dummy initrd\n' >"$ROOT/boot/initrd.img-0"
    KERNEL_VERSION=0
    args_linux=""
    default_grub "" "quiet" >"$ROOT/etc/default/grub"
    grub_cfg 0 "quiet" 1 >"$ROOT/boot/grub/grub.cfg"
    chmod 0444 "$ROOT/boot/grub/grub.cfg"

    mkdir -p "$ESPDIR/EFI/BOOT"
    cat >"$ESPDIR/EFI/BOOT/grub.cfg" <<EOF
search.fs_uuid $ROOT_UUID root
set prefix=(\$root)'/boot/grub'
configfile \$prefix/grub.cfg
EOF
    printf 'MZ imgrecipe tiny: dummy EFI binary, not bootable\n' >"$ESPDIR/EFI/BOOT/BOOTX64.EFI"
    ir_log "tiny: rootfs populated in $(ir_elapsed "$t0") s"
}

# --- disk assembly (no mounts) -------------------------------------------------
assemble_disk() {
    local img=$1 t0 total p1s p1n p2s p2n esp_off root_off
    t0=$(ir_now)
    total=$((DISK_MIB * 1024 * 1024 / SECTOR))
    p1s=2048
    p1n=$((ESP_MIB * 1024 * 1024 / SECTOR))
    p2s=$((p1s + p1n))
    p2n=$((total - p2s - 2048)) # leave 1 MiB at the end (backup GPT)
    esp_off=$((p1s * SECTOR))
    root_off=$((p2s * SECTOR))

    truncate -s "${DISK_MIB}M" "$img"
    sfdisk --quiet --no-reread --no-tell-kernel "$img" <<EOF
label: gpt
label-id: $DISK_GUID
unit: sectors
sector-size: $SECTOR

start=$p1s, size=$p1n, type=$ESP_TYPE, uuid=$ESP_PARTUUID
start=$p2s, size=$p2n, type=$ROOT_TYPE, uuid=$ROOT_PARTUUID
EOF
    # (stderr kept quiet: with --offset it always warns "block count mismatch")
    mkfs.vfat -F 32 -s 1 -S "$SECTOR" -i "$ESP_VOLID_HEX" --offset="$p1s" "$img" \
        $((p1n * SECTOR / 1024)) >"$TMP/mkfs.vfat.log" 2>&1 || {
        cat "$TMP/mkfs.vfat.log" >&2
        ir_die "mkfs.vfat failed"
    }
    if [[ -n $(find "$ESPDIR" -mindepth 1 -maxdepth 1) ]]; then
        mcopy -s -m -i "$img@@$esp_off" "$ESPDIR"/* ::/
    fi
    mkfs.ext4 -F -q -b 4096 -U "$ROOT_UUID" -E "offset=$root_off,hash_seed=$HASH_SEED" \
        -d "$ROOT" "$img" $((p2n * SECTOR / 1024))k
    e2fsck -fn "$img?offset=$root_off" >/dev/null 2>&1 || {
        e2fsck -fn "$img?offset=$root_off" >&2 || true
        ir_die "e2fsck reports errors on the new root fs"
    }
    mdir -i "$img@@$esp_off" ::/EFI/BOOT >/dev/null || ir_die "ESP unreadable by mtools"

    cat >"$OUT/image.env" <<EOF
# Generated by tests/images/build-image.sh; offsets and sizes in bytes.
IMG_VARIANT=$VARIANT
IMG_KEY=$KEY
IMG_PATH=$IMG
IMG_SIZE=$((total * SECTOR))
IMG_SECTOR_SIZE=$SECTOR
IMG_HOSTNAME=$HOSTNAME_
DISK_GUID=$DISK_GUID
ESP_PARTNUM=1
ESP_OFFSET=$esp_off
ESP_SIZE=$((p1n * SECTOR))
ESP_UUID=$ESP_UUID
ESP_PARTUUID=$ESP_PARTUUID
ROOT_PARTNUM=2
ROOT_OFFSET=$root_off
ROOT_SIZE=$((p2n * SECTOR))
ROOT_UUID=$ROOT_UUID
ROOT_PARTUUID=$ROOT_PARTUUID
KERNEL_VERSION=$KERNEL_VERSION
BOOTABLE=$([[ $VARIANT == debian-base ]] && echo 1 || echo 0)
EOF
    ir_log "$VARIANT: disk assembled in $(ir_elapsed "$t0") s"
}

KERNEL_VERSION=
args_linux=
case $VARIANT in
    debian-base) populate_debian_base ;;
    debian-rpm) populate_debian_rpm ;;
    tiny) populate_tiny ;;
esac
assemble_disk "$OUT/disk.raw"
chmod 0444 "$OUT/disk.raw"

# --- publish atomically --------------------------------------------------------
if [[ -e $IMG_DIR ]]; then
    # --force: move the old entry aside first (rename is atomic; readers holding
    # the old file keep a valid inode).
    mv -T "$IMG_DIR" "$TMP/old"
fi
mv -T "$OUT" "$IMG_DIR"
ir_log "$VARIANT: built $IMG ($(du -h "$IMG" | cut -f1) allocated, $(du -h --apparent-size "$IMG" | cut -f1) apparent) in $(ir_elapsed "$T_START") s"
prune
printf '%s\n' "$IMG"
