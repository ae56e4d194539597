#!/usr/bin/env bash
# Benchmark of the LiveOS ISO build (issue 9 §4): `imgrecipe build
# --output-image-format iso` of the Debian test image (prepared once, not
# timed: dracut and dracut-live installed, so the ISO build itself installs
# nothing), against the floor of the same work by hand: the root mounted
# read-only (loop device at the root's offset), mksquashfs of it with
# imgrecipe's options (zstd, xattrs, the same exclusions), kernel and
# initramfs copied to a media tree, a FAT El Torito image (mkfs.vfat -C +
# mcopy) and xorriso with imgrecipe's options (ISO level 3, Rock Ridge,
# Joliet, the FAT image appended as the GPT's ESP and as the UEFI El Torito
# entry), the ISO fsynced. imgrecipe also runs the image's dracut (the live
# initramfs), builds the EFI and BIOS GRUB images and copies the input to a
# working copy, which the floor does not; so three ratios are printed: the
# whole build, the build without its dracut run, and imgrecipe's own segment
# from "making squashfs" to the ISO written (the floor's work exactly).
# For two image sizes (the image, and the image with a 1 GiB compressible
# file in its root): medians of interleaved runs and imgrecipe's own peak RSS
# (VmHWM), which must not grow with the image. Not a test: prints a table.
# Root, after building:
#   bash bench/bench_iso.sh [RUNS]      (default 3)
# IMGRECIPE=path picks the binary; BENCH_DIR the scratch parent (/var/tmp);
# BENCH_SUMMARY=FILE appends summary lines for bench/run-all.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
runs=${1:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash bench/bench_iso.sh [RUNS]" >&2; exit 2; }
bin=$(realpath "${IMGRECIPE:-build/imgrecipe}")
[[ -x $bin ]] || { echo "no imgrecipe binary at $bin (build first, or set IMGRECIPE)" >&2; exit 2; }
((EUID == 0)) || { echo "run as root (loop devices and mounts)" >&2; exit 2; }
for tool in losetup mksquashfs xorriso mkfs.vfat mcopy /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
base=$(tests/images/build-image.sh debian-base)
# shellcheck disable=SC1091
source "$(dirname "$base")/image.env"   # ROOT_OFFSET, ROOT_SIZE, KERNEL_VERSION
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/imgrecipe-bench-iso.XXXXXX")
loop=""
cleanup() {
    mountpoint -q "$work/src" 2>/dev/null && umount -R "$work/src"
    [[ -z $loop ]] || losetup -d "$loop" 2>/dev/null || true
    rm -rf --one-file-system -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '%s\n' "$*" >&2; }
export MTOOLS_SKIP_CHECK=1
# The compressor liveos.initramfs gives dracut (M.DRACUT_COMPRESS).
DRACUT_COMPRESS=$(sed -n 's/^M.DRACUT_COMPRESS = "\(.*\)"$/\1/p' stdlib/imgrecipe/liveos.lua)
[[ -n $DRACUT_COMPRESS ]] || { echo "no M.DRACUT_COMPRESS in stdlib/imgrecipe/liveos.lua" >&2; exit 2; }

# The inputs (not timed): "small" = the image with dracut; "large" = that
# plus a 1 GiB compressible file in its root.
log "preparing the inputs (dracut installed; + 1 GiB)"
printf 'os:\n  packages:\n    install: [dracut, dracut-live]\n' > "$work/dracut.yaml"
"$bin" build --config-file "$work/dracut.yaml" --image-file "$base" --output-image-file "$work/small.raw" \
    --output-image-format raw --build-dir "$work/b" --log-level warn
head -c 1G < <(yes 'imgrecipe bench payload line, compressible') > "$work/filler.bin"
printf 'os:\n  additionalFiles:\n    - source: %s\n      destination: /opt/filler.bin\n' "$work/filler.bin" \
    > "$work/large.yaml"
"$bin" build --config-file "$work/large.yaml" --image-file "$work/small.raw" --output-image-file "$work/large.raw" \
    --output-image-format raw --build-dir "$work/b" --log-level warn
rm -f "$work/filler.bin"
printf 'iso:\n  kernelCommandLine:\n    extraCommandLine: [console=ttyS0]\n' > "$work/iso.yaml"
mkdir -p "$work/src"

# Seconds between the first log line matching $2 and the first one after it
# matching $3 (or the last line matching $2 when $3 is empty) in log $1.
span() {
    awk -v a="$2" -v b="$3" '
        function t(x) { split(substr(x, 12, 12), p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
        $0 ~ a { if (!s) s = t($1); l = t($1) }
        s && b != "" && !e && $0 ~ b { e = t($1) }
        END { if (b == "") e = l; if (s && e) printf "%.2f", e - s; else print "nan" }' "$1"
}

# CPU seconds (user + system) of the waited-for children of this (sub)shell:
# every function below runs in a command substitution of its own.
# (`times` in a pipeline or $(...) would run in a fresh subshell: 0.)
child_cpu() {
    local f=$work/times.$BASHPID
    times > "$f"
    tail -1 "$f" | awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); n += p[1] * 60 + p[2] } printf "%.2f", n }'
    rm -f "$f"
}

# imgrecipe INPUT: one ISO build; "seconds peakKiB-with-children ownPeakKiB cpu-seconds dracut-seconds segment-seconds".
imgrecipe() {
    rm -f "$work/ir.log" "$work/out.iso"
    local own
    own=$(run_measured "$work/time" "$bin" build --config-file "$work/iso.yaml" --image-file "$1" \
        --output-image-file "$work/out.iso" --output-image-format iso --build-dir "$work/b" \
        --log-level warn --log-file "$work/ir.log")
    own=${own%% *}
    child_cpu > "$work/cpu"
    echo "$(cat "$work/time") $own $(cat "$work/cpu") $(span "$work/ir.log" '\[dracut\]' '') \
$(span "$work/ir.log" 'making squashfs' 'LiveOS ISO .*: kernel')"
}

# floor INPUT: the same squashfs and ISO by hand.
floor() {
    rm -rf "$work/media" "$work/floor.iso" "$work/rootfs.img" "$work/efiboot.img" "$work/esp"
    loop=$(losetup -f --show -r --offset "$ROOT_OFFSET" --sizelimit "$ROOT_SIZE" "$1")
    mount -o ro,noload "$loop" "$work/src"
    mksquashfs "$work/src" "$work/rootfs.img" -noappend -comp zstd -Xcompression-level 9 -exit-on-error -no-progress -quiet -xattrs \
        -wildcards -e 'boot/*' 'proc/*' 'sys/*' 'dev/*' 'run/*' 'tmp/*' 'var/tmp/*' > /dev/null
    mkdir -p "$work/media/boot/grub" "$work/esp/EFI/BOOT"
    cp "$work/src/boot/vmlinuz-$KERNEL_VERSION" "$work/src/boot/initrd.img-$KERNEL_VERSION" "$work/media/boot/"
    printf 'set timeout=0\n' > "$work/media/boot/grub/grub.cfg"
    cp "$work/src/usr/lib/grub/x86_64-efi/kernel.img" "$work/esp/EFI/BOOT/BOOTX64.EFI" 2>/dev/null \
        || head -c 1M /dev/zero > "$work/esp/EFI/BOOT/BOOTX64.EFI"
    umount "$work/src"
    losetup -d "$loop"
    loop=""
    mkfs.vfat -C "$work/efiboot.img" 3072 > /dev/null
    mcopy -s -i "$work/efiboot.img" "$work/esp/EFI" ::/
    xorriso -as mkisofs -o "$work/floor.iso" -iso-level 3 -V CDROM -R -J -joliet-long \
        -append_partition 2 0xef "$work/efiboot.img" -appended_part_as_gpt -c /boot.catalog \
        -e --interval:appended_partition_2:all:: -no-emul-boot -graft-points "/=$work/media" \
        "/LiveOS/rootfs.img=$work/rootfs.img" 2> /dev/null
    sync "$work/floor.iso"
}
# floor_dracut INPUT: the floor plus the live initramfs by hand: the image's
# dracut with M.initramfs's arguments (liveos.lua), chrooted into the
# read-only root with /proc, /sys, /dev, a tmpfs /run and a host directory
# on /var/tmp as its /var/tmp (its temporary files and its output: the
# input is never written), then the floor's squashfs and ISO.
floor_dracut() {
    rm -rf "$work/dtmp"
    mkdir -p "$work/dtmp"
    loop=$(losetup -f --show -r --offset "$ROOT_OFFSET" --sizelimit "$ROOT_SIZE" "$1")
    mount -o ro,noload "$loop" "$work/src"
    mount -t proc proc "$work/src/proc"
    mount -t sysfs -o ro sysfs "$work/src/sys"
    mount --bind /dev "$work/src/dev"
    mount -t tmpfs tmpfs "$work/src/run"
    mount --bind "$work/dtmp" "$work/src/var/tmp"
    local rc=0
    chroot "$work/src" dracut --force --no-hostonly --kver "$KERNEL_VERSION" --add dmsquash-live \
        --add-drivers "overlay squashfs loop iso9660 sr_mod virtio_scsi" --filesystems "squashfs iso9660" \
        --compress "$DRACUT_COMPRESS" /var/tmp/initrd.img > /dev/null 2>&1 || rc=$?
    umount -R "$work/src"
    losetup -d "$loop"
    loop=""
    ((rc == 0)) || { log "floor+dracut: dracut failed ($rc)"; return 1; }
    floor "$1"
}
# seconds CMD...: "wall-seconds cpu-seconds" of CMD.
seconds() {
    local t0=$EPOCHREALTIME t1 f=$work/cpu.$BASHPID
    "$@" > /dev/null
    t1=$EPOCHREALTIME
    child_cpu > "$f"   # in this shell: $(child_cpu) would count nothing
    awk -v a="$t0" -v b="$t1" -v c="$(cat "$f")" 'BEGIN { printf "%.2f %s\n", b - a, c }'
    rm -f "$f"
}

declare -A ours nodracut seg fl fld rss rssall cpu_ours cpu_fl cpu_fld
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for size in small large; do
    in=$work/$size.raw
    t_ours=() t_nod=() t_seg=() t_floor=() t_fld=() r_own=() r_all=() c_ours=() c_fl=() c_fld=()
    for ((i = 1; i <= runs; i++)); do
        read -r secs kib own cpu dracut segment < <(imgrecipe "$in")
        t_ours+=("$secs"); r_own+=("$own"); r_all+=("$kib"); t_seg+=("$segment"); c_ours+=("$cpu")
        t_nod+=("$(awk -v a="$secs" -v b="$dracut" 'BEGIN { printf "%.2f", a - b }')")
        read -r w c < <(seconds floor "$in")
        t_floor+=("$w"); c_fl+=("$c")
        read -r w c < <(seconds floor_dracut "$in")
        t_fld+=("$w"); c_fld+=("$c")
        log "$size run $i ($(cut -d' ' -f1-3 /proc/loadavg)): imgrecipe ${secs}s CPU ${cpu}s (dracut ${dracut}s," \
            "squashfs+ISO ${segment}s, own RSS ${own} KiB), floor ${t_floor[-1]}s CPU ${c_fl[-1]}s," \
            "floor+dracut ${t_fld[-1]}s CPU ${c_fld[-1]}s"
        rm -f "$work/out.iso" "$work/floor.iso"
    done
    ours[$size]=$(printf '%s\n' "${t_ours[@]}" | median)
    nodracut[$size]=$(printf '%s\n' "${t_nod[@]}" | median)
    seg[$size]=$(printf '%s\n' "${t_seg[@]}" | median)
    fl[$size]=$(printf '%s\n' "${t_floor[@]}" | median)
    fld[$size]=$(printf '%s\n' "${t_fld[@]}" | median)
    cpu_ours[$size]=$(printf '%s\n' "${c_ours[@]}" | median)
    cpu_fl[$size]=$(printf '%s\n' "${c_fl[@]}" | median)
    cpu_fld[$size]=$(printf '%s\n' "${c_fld[@]}" | median)
    rss[$size]=$(printf '%s\n' "${r_own[@]}" | sort -n | tail -1)
    rssall[$size]=$(printf '%s\n' "${r_all[@]}" | sort -n | tail -1)
done

echo "== LiveOS ISO build vs floor ($(date -u +'%F %H:%M') UTC, $(nproc) cores, $runs runs, medians, seconds;" \
    "load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; dracut --compress '$DRACUT_COMPRESS')"
printf '%-6s %7s %8s %8s %6s %8s %9s %8s %8s %8s %7s %6s %7s %8s %s\n' input build -dracut segment floor fl+drac \
    build/fl+d build/fl -drac/fl seg/fl cpu cpu:fl cpu:fl+d "own MiB" "(+children)"
for size in small large; do
    printf '%-6s %7s %8s %8s %6s %8s %9s %8s %8s %8s %7s %6s %7s %8s %s\n' "$size" "${ours[$size]}" \
        "${nodracut[$size]}" "${seg[$size]}" "${fl[$size]}" "${fld[$size]}" "$(ratio "${ours[$size]}" "${fld[$size]}")" \
        "$(ratio "${ours[$size]}" "${fl[$size]}")" "$(ratio "${nodracut[$size]}" "${fl[$size]}")" \
        "$(ratio "${seg[$size]}" "${fl[$size]}")" "${cpu_ours[$size]}" "${cpu_fl[$size]}" "${cpu_fld[$size]}" \
        "$((rss[$size] / 1024))" "($((rssall[$size] / 1024)))"
done
echo "build/fl+d (the main ratio): the whole build against the floor with the same dracut run; cpu: user+system" \
    "seconds of imgrecipe and its children, of the floor, of floor+dracut"
if [[ -n ${BENCH_SUMMARY:-} ]]; then
    printf 'iso|%s|%s|%s|%s|%s|%s\n' "${seg[small]}" "${fl[small]}" "$(ratio "${seg[small]}" "${fl[small]}")" \
        "$(ratio "${nodracut[small]}" "${fl[small]}")" "$((rss[small] / 1024))" "$((rss[large] / 1024))" >> "$BENCH_SUMMARY"
fi
