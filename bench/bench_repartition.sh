#!/usr/bin/env bash
# Benchmark of a repartitioning build (issue 8 §6): `imgrecipe build` with a
# `storage:` section (a new GPT disk: ESP fat32 at /boot/efi, /var ext4
# 512 MiB, / ext4 growing to the end) from the Debian test image, raw output,
# against the floor of the same work done by hand:
#   truncate + sfdisk; one loop device per partition (losetup --offset
#   --sizelimit; no partition scan here); mkfs.ext4 on / and /var, mkfs.vfat
#   at the ESP's offset; the source root mounted read-only the same way;
#   mount, `cp -a` of the source tree, the source ESP copied with mtools
#   (vfat cannot be mounted here, imgrecipe stages it the same way), an
#   fstab written, umount, loop devices detached, the disk file fsynced.
# For a 2 GiB and an 8 GiB disk (maxSize): medians of interleaved runs, the
# ratio, and imgrecipe's peak RSS (/usr/bin/time %M), which must not grow with
# the disk. imgrecipe's build also does what a bootable disk needs and the
# floor does not (the input's working copy, e2fsck of each new filesystem
# after unmount, the boot loader and initramfs of `resetType: hard-reset`),
# so its `storage` step alone (from its log) is printed against the floor
# too. Not a test: prints a table. Root, after building:
#   bash bench/bench_repartition.sh [RUNS]      (default 3)
# IMGRECIPE=path picks the binary; BENCH_DIR the scratch parent (/var/tmp);
# SIZES the disk sizes (default "2G 8G"); BENCH_SUMMARY=FILE appends summary
# lines for bench/run-all.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
runs=${1:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash bench/bench_repartition.sh [RUNS]" >&2; exit 2; }
bin=$(realpath "${IMGRECIPE:-build/imgrecipe}")
[[ -x $bin ]] || { echo "no imgrecipe binary at $bin (build first, or set IMGRECIPE)" >&2; exit 2; }
((EUID == 0)) || { echo "run as root (loop devices and mounts)" >&2; exit 2; }
for tool in sfdisk losetup mkfs.ext4 mkfs.vfat mcopy jq /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
base=$(tests/images/build-image.sh debian-base)
# shellcheck disable=SC1091
source "$(dirname "$base")/image.env"   # ESP_OFFSET, ROOT_OFFSET, ROOT_SIZE
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/imgrecipe-bench-repart.XXXXXX")
loops=()
cleanup() {
    local l
    for m in "$work/dst/sys" "$work/dst/proc" "$work/dst/dev" "$work/dst/var" "$work/dst" "$work/src"; do
        mountpoint -q "$m" 2>/dev/null && umount "$m"
    done
    for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    rm -rf --one-file-system -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '%s\n' "$*" >&2; }

config() {  # SIZE -> the YAML config
    cat <<YAML
storage:
  bootType: efi
  disks:
  - partitionTableType: gpt
    maxSize: $1
    partitions:
    - {id: esp, type: esp, start: 1M, size: 100M}
    - {id: var, type: var, size: 512M}
    - {id: root, type: root, size: grow}
  filesystems:
  - {deviceId: esp, type: fat32, mountPoint: {path: /boot/efi, idType: uuid, options: umask=0077}}
  - {deviceId: var, type: ext4, mountPoint: /var}
  - {deviceId: root, type: ext4, mountPoint: /}
os:
  bootloader:
    resetType: hard-reset
YAML
}

# imgrecipe SIZE: one build; "seconds peakKiB-with-children ownPeakKiB storage-step-seconds".
imgrecipe() {
    rm -f "$work/ir.log"
    local own step
    own=$(run_measured "$work/time" "$bin" build "$work/config-$1.yaml" --image-file "$base" \
        --output-image-file "$work/out.raw" --output-image-format raw --build-dir "$work/b" \
        --log-level warn --log-file "$work/ir.log")
    own=${own%% *}
    # The storage step: from its start to the next step's start.
    step=$(awk '/\[storage\] start/ { s = $1 } s && !e && /\] start$/ && !/\[storage\]/ { e = $1 }
        function t(x) { split(substr(x, 12, 12), a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
        END { if (s && e) printf "%.2f", t(e) - t(s); else print "nan" }' "$work/ir.log")
    echo "$(cat "$work/time") $own $step"
}

attach() {  # FILE OFFSET SIZE [-r] -> loop device
    local l
    l=$(losetup -f --show ${4:+"$4"} --offset "$2" --sizelimit "$3" "$1")
    loops+=("$l")
    echo "$l"
}
detach() { losetup -d "$1"; }

# floor SIZE [boot]: the same disk by hand; with "boot", also the initramfs
# regenerated in it (chroot update-initramfs -u -k all), the largest part of
# imgrecipe's bootloader step (its grub-mkimage and grub-mkconfig take 2-3 s).
floor() {
    local d=$work/floor.raw l_root l_var l_src
    truncate -s "$1" "$d"
    sfdisk -q "$d" <<'EOF'
label: gpt
start=1MiB, size=100MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
size=512MiB, type=4D21B016-B534-45C2-A9FB-5C16E091FD2D
type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
EOF
    local -a start size
    mapfile -t start < <(sfdisk -J "$d" | jq '.partitiontable.partitions[].start * 512')
    mapfile -t size < <(sfdisk -J "$d" | jq '.partitiontable.partitions[].size * 512')
    mkfs.vfat -F 32 -s 1 --offset=$((start[0] / 512)) "$d" $((size[0] / 1024)) > /dev/null 2>&1  # "block count mismatch": meant
    l_var=$(attach "$d" "${start[1]}" "${size[1]}")
    l_root=$(attach "$d" "${start[2]}" "${size[2]}")
    mkfs.ext4 -q -F "$l_var"
    mkfs.ext4 -q -F "$l_root"
    l_src=$(attach "$base" "$ROOT_OFFSET" "$ROOT_SIZE" -r)
    mount -o ro,noload "$l_src" "$work/src"
    mount "$l_root" "$work/dst"
    mkdir -p "$work/dst/var"
    mount "$l_var" "$work/dst/var"
    cp -a "$work/src/." "$work/dst/"
    rm -rf "$work/esp"; mkdir "$work/esp"
    MTOOLS_SKIP_CHECK=1 mcopy -s -p -i "$base@@$ESP_OFFSET" '::/*' "$work/esp/"
    MTOOLS_SKIP_CHECK=1 mcopy -s -p -i "$d@@${start[0]}" "$work/esp/"* ::/
    printf 'PARTUUID=x / ext4 defaults 0 1\nPARTUUID=y /var ext4 defaults 0 2\nUUID=z /boot/efi vfat umask=0077 0 2\n' \
        > "$work/dst/etc/fstab"
    if [[ ${2:-} == boot ]]; then  # the initramfs regenerated, as imgrecipe's bootloader step does
        mount --bind /dev "$work/dst/dev"; mount -t proc proc "$work/dst/proc"; mount -t sysfs sys "$work/dst/sys"
        chroot "$work/dst" update-initramfs -u -k all > /dev/null 2>&1
        umount "$work/dst/sys" "$work/dst/proc" "$work/dst/dev"
    fi
    umount "$work/dst/var" "$work/dst" "$work/src"
    detach "$l_var"; detach "$l_root"; detach "$l_src"
    loops=()
    sync "$d"
}
clean_outputs() { rm -f -- "$work/out.raw" "$work/floor.raw"; sync; }
seconds() {
    local t0=$EPOCHREALTIME
    "$@" > /dev/null
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f\n", b - a }'
}

mkdir -p "$work/src" "$work/dst"
sizes=${SIZES:-2G 8G}
load_before=$(cut -d' ' -f1 /proc/loadavg)
rows=()
for size in $sizes; do
    config "$size" > "$work/config-$size.yaml"
    log "== $size: warm-up"
    clean_outputs; imgrecipe "$size" > /dev/null; clean_outputs; floor "$size"
    ours=() steps=() theirs=() boots=() rss=() own=()
    for i in $(seq "$runs"); do
        # Results go through a file: a failure in "$(...)" would go unnoticed.
        clean_outputs; imgrecipe "$size" > "$work/res"; read -r secs kib okib step < "$work/res"
        ours+=("$secs"); rss+=("$kib"); own+=("$okib"); steps+=("$step")
        clean_outputs; seconds floor "$size" > "$work/res"; theirs+=("$(<"$work/res")")
        clean_outputs; seconds floor "$size" boot > "$work/res"; boots+=("$(<"$work/res")")
        log "   run $i: imgrecipe $secs s (storage step $step s, own $((okib / 1024)) MiB, with children" \
            "$((kib / 1024)) MiB), floor ${theirs[-1]} s, floor+initramfs ${boots[-1]} s"
    done
    a=$(printf '%s\n' "${ours[@]}" | median)
    s=$(printf '%s\n' "${steps[@]}" | median)
    b=$(printf '%s\n' "${theirs[@]}" | median)
    bb=$(printf '%s\n' "${boots[@]}" | median)
    r=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
    o=$(printf '%s\n' "${own[@]}" | sort -n | tail -1)
    rows+=("$(printf '%-6s %8s %8s %8s %8s %8s %8s %8s %8d %9d' "$size" "$a" "$s" "$b" "$bb" "$(ratio "$s" "$b")" \
        "$(ratio "$a" "$bb")" "$(ratio "$a" "$b")" $((o / 1024)) $((r / 1024)))")
    [[ -z ${BENCH_SUMMARY:-} ]] ||
        printf 'repartition %s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$size" "$a" "$s" "$b" "$bb" "$(ratio "$s" "$b")" \
            "$(ratio "$a" "$bb")" "$(ratio "$a" "$b")" $((o / 1024)) $((r / 1024)) >> "$BENCH_SUMMARY"
done
clean_outputs
echo
echo "repartitioning build vs floor, $runs interleaved runs, medians in seconds ($(date -u +%F), $(nproc) cores," \
    "$(uname -r), load $load_before/$(cut -d' ' -f1 /proc/loadavg))"
echo "build = whole imgrecipe build (raw output); storage = its storage step (new disk, mkfs, OS copy, fstab);"
echo "floor = truncate+sfdisk+losetup+mkfs+mount+cp -a+mcopy+umount+fsync; +initrd = the floor and a chroot"
echo "update-initramfs -u -k all; goal: ratio <= 1.3, peak RSS <= 64 MiB and flat"
echo "RSS: peak of the imgrecipe process itself (own), and of it or any child it ran (+children: mkfs, cp, e2fsck, ...)"
printf '%-6s %8s %8s %8s %8s %8s %8s %8s %8s %9s\n' disk build storage floor +initrd stor/fl bld/+ini bld/fl "own MiB" \
    "+children"
printf '%s\n' "${rows[@]}"
