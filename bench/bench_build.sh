#!/usr/bin/env bash
# Benchmark: time and peak memory of `imgrecipe build` (no storage section,
# no COSI) on the Debian base image for each output format, for the 2 GiB
# image and the same image grown to 8 GiB (disk, root partition and ext4
# grown; same files), and how much of the output is really written
# (sparseness). Peak memory must not grow with the image: "own" is the
# imgrecipe process's own peak RSS (VmHWM), "+children" the largest of it and
# every child it waited for (qemu-img, e2fsck, commands in the image; what
# /usr/bin/time %M reports). Not a test: prints a table. Root, after building:
#   bash bench/bench_build.sh [RUNS]        (default 3)
# FORMATS (default "raw qcow2 vhd vhd-fixed vhdx"), SIZES (default "2G 8G").
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
runs=${1:-3}
bin=$(realpath "${IMGRECIPE:-build/imgrecipe}")
base=$(tests/images/build-image.sh debian-base)
# shellcheck disable=SC1091
source "$(dirname "$base")/image.env"   # ROOT_OFFSET
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/imgrecipe-bench.XXXXXX")
loop=""
cleanup() {
    [[ -z $loop ]] || losetup -d "$loop" 2>/dev/null || true
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cat > "$work/config.yaml" <<'YAML'
os:
  hostname: bench
  additionalFiles:
    - {content: "bench\n", destination: /etc/bench}
    - {content: "esp\n", destination: /boot/efi/bench.txt}
  kernelCommandLine: {extraCommandLine: [bench=1]}
scripts:
  postCustomization:
    - content: "true"
YAML
# The input at SIZE: the base image itself at 2G; else a copy with the disk,
# the root partition (the last one) and its ext4 grown.
input() {
    local size=$1 img=$work/in-$1.raw
    if [[ $size == 2G ]]; then echo "$base"; return; fi
    if [[ ! -e $img ]]; then
        cp --sparse=always "$base" "$img"
        chmod u+w "$img"
        truncate -s "$size" "$img"
        sfdisk -q --relocate gpt-bak-std "$img"
        echo ', +' | sfdisk -q -N 2 "$img" 2> /dev/null
        local bytes
        bytes=$(( $(sfdisk -J "$img" | jq '.partitiontable.partitions[1].size') * 512 ))
        loop=$(losetup -f --show --offset "$ROOT_OFFSET" --sizelimit "$bytes" "$img")
        e2fsck -fy "$loop" > /dev/null 2>&1 || true
        resize2fs -f "$loop" > /dev/null 2>&1
        losetup -d "$loop"; loop=""
    fi
    echo "$img"
}
printf '%-6s %-10s %9s %9s %10s %11s %14s\n' disk format "median s" "own MiB" "+children" "output MiB" "allocated MiB"
for size in ${SIZES:-2G 8G}; do
    in=$(input "$size")
    for fmt in ${FORMATS:-raw qcow2 vhd vhd-fixed vhdx}; do
        times=() own=() all=()
        for _ in $(seq "$runs"); do
            out=$work/out.$fmt
            rm -f "$out"
            o=$(run_measured "$work/time" "$bin" build "$work/config.yaml" --image-file "$in" \
                --output-image-file "$out" --output-image-format "$fmt" --build-dir "$work/b" --log-level warn)
            o=${o%% *}
            read -r secs rss < "$work/time"
            times+=("$secs"); own+=("$o"); all+=("$rss")
        done
        printf '%-6s %-10s %9s %9d %10d %11d %14d\n' "$size" "$fmt" "$(printf '%s\n' "${times[@]}" | median)" \
            $(( $(printf '%s\n' "${own[@]}" | sort -n | tail -1) / 1024 )) \
            $(( $(printf '%s\n' "${all[@]}" | sort -n | tail -1) / 1024 )) \
            $(( $(stat -c %s "$out") / 1048576 )) $(( $(du -k "$out" | cut -f1) / 1024 ))
        rm -f "$out"
    done
done
