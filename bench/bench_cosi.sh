#!/usr/bin/env bash
# Benchmark of COSI output (issue 8 §6): imgrecipe's in-process writer
# (imgrecipe.host.cosi.write: GPT region + every partition compressed with
# libzstd, hashed, put in the tar, fsynced) against the floor, `zstd -T0
# --long=27 -<level>` of the same partition images (extracted beforehand, not
# timed), with interleaved runs and medians; and imgrecipe's peak RSS on a
# 2 GiB and an 8 GiB disk (same data, the 8 GiB one has one more partition
# over the added zeros), which must not grow with the disk. The writer gets
# the disk as it is (no shrink, no fsck), so both sides compress the same
# bytes. Not a test: prints a table. Root, after building:
#   bash bench/bench_cosi.sh [RUNS] [LEVEL]        (defaults 3 and 9)
# WORKERS / WINDOW_LOG set the writer's `workers` / `window_log` options
# (default: its own defaults, 0 and 27). BENCH_SUMMARY=FILE appends one
# summary line for bench/run-all.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
runs=${1:-3}
level=${2:-9}
[[ $runs =~ ^[1-9][0-9]*$ && $level =~ ^[0-9]+$ ]] || { echo "usage: bash bench/bench_cosi.sh [RUNS] [LEVEL]" >&2; exit 2; }
bin=$(realpath "${IMGRECIPE:-build/imgrecipe}")
[[ -x $bin ]] || { echo "no imgrecipe binary at $bin (build first, or set IMGRECIPE)" >&2; exit 2; }
((EUID == 0)) || { echo "run as root" >&2; exit 2; }
base=$(tests/images/build-image.sh debian-base)
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/imgrecipe-bench-cosi.XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT
trap 'exit 130' INT TERM
log() { printf '%s\n' "$*" >&2; }
cat > "$work/write.lua" <<'LUA'
return {
  name = "bench-cosi",
  params = { disk = { required = true }, output = { required = true }, level = { default = "9" },
             workers = { default = "" }, window_log = { default = "" } },
  run = function(ctx)
    local p = ctx.params
    require("imgrecipe.host.cosi").write(p.disk, p.output,
      { os_arch = "x86_64", os_release = "ID=bench\n", bootloader = { type = "grub" }, packages = {}, mounts = {} },
      { level = tonumber(p.level), workers = tonumber(p.workers), window_log = tonumber(p.window_log),
        check = false, work_dir = ctx.work_dir })
  end,
}
LUA
run_cosi() {  # DISK -> "seconds peakKiB privateKiB" (no child processes: the peak is imgrecipe's own)
    local own
    own=$(run_measured "$work/time" "$bin" run "$work/write.lua" --build-dir "$work/b" \
        --param disk="$1" --param output="$work/out.cosi" --param level="$level" \
        --param workers="${WORKERS:-}" --param window_log="${WINDOW_LOG:-}" --log-level warn)
    echo "$(cat "$work/time") ${own#* }"
}
# The floor: zstd over each partition image and the GPT region, each synced
# as the writer syncs its output.
mkdir -p "$work/parts"
dd if="$base" of="$work/parts/gpt.raw" bs=512 count=34 status=none
sfdisk -J "$base" | jq -r '.partitiontable.partitions[] | "\(.start) \(.size)"' > "$work/table"
n=0
while read -r start size; do
    n=$((n + 1))
    dd if="$base" of="$work/parts/p$n.raw" bs=512 skip="$start" count="$size" conv=sparse status=none
done < "$work/table"
floor() {  # -> "seconds peakKiB"
    local t0=$EPOCHREALTIME f rss=0 k
    for f in "$work"/parts/*.raw; do
        /usr/bin/time -f '%M' -o "$work/ftime" zstd -q -T0 --long=27 -"$level" -f "$f" -o "$f.zst"
        k=$(<"$work/ftime"); ((k > rss)) && rss=$k
    done
    sync "$work"/parts/*.zst
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v r="$rss" 'BEGIN { printf "%.2f %d\n", b - a, r }'
}

# An 8 GiB disk: the same table and partitions, the disk grown with zeros
# (a sparse file) and a last partition over the new space.
cp --sparse=always "$base" "$work/big.raw"
truncate -s 8G "$work/big.raw"
sfdisk --relocate gpt-bak-std "$work/big.raw" > /dev/null 2>&1
echo ',,L' | sfdisk --append "$work/big.raw" > /dev/null 2>&1

load_before=$(cut -d' ' -f1 /proc/loadavg)
log "== warm-up"
floor > /dev/null; run_cosi "$base" > /dev/null
ours=() theirs=() rss2=() rss8=() ours8=() anon2=() anon8=() floor_rss=0
for i in $(seq "$runs"); do
    # Results go through a file: a failure in "$(...)" would go unnoticed.
    floor > "$work/res"; read -r s k < "$work/res"; theirs+=("$s"); ((k > floor_rss)) && floor_rss=$k
    run_cosi "$base" > "$work/res"; read -r s k p < "$work/res"; ours+=("$s"); rss2+=("$k"); anon2+=("$p")
    log "   run $i: floor ${theirs[-1]} s, imgrecipe $s s ($((k / 1024)) MiB, private $((p / 1024)) MiB)"
done
cosi_size=$(stat -c %s "$work/out.cosi")
zst_size=$(cat "$work"/parts/*.zst | wc -c)
for i in $(seq "$(( (runs + 1) / 2 ))"); do
    run_cosi "$work/big.raw" > "$work/res"; read -r s k p < "$work/res"; ours8+=("$s"); rss8+=("$k"); anon8+=("$p")
    log "   8 GiB run $i: imgrecipe $s s ($((k / 1024)) MiB, private $((p / 1024)) MiB)"
done
a=$(printf '%s\n' "${ours[@]}" | median)
b=$(printf '%s\n' "${theirs[@]}" | median)
a8=$(printf '%s\n' "${ours8[@]}" | median)
r2=$(printf '%s\n' "${rss2[@]}" | sort -n | tail -1)
r8=$(printf '%s\n' "${rss8[@]}" | sort -n | tail -1)
p2=$(printf '%s\n' "${anon2[@]}" | sort -n | tail -1)
p8=$(printf '%s\n' "${anon8[@]}" | sort -n | tail -1)
echo
echo "COSI writer vs floor, level $level, workers ${WORKERS:-default}, window_log ${WINDOW_LOG:-default}," \
    "$runs interleaved runs, medians ($(date -u +%F), $(nproc) cores, load $load_before/$(cut -d' ' -f1 /proc/loadavg))"
printf '%-34s %10s %12s %12s\n' "" "seconds" "peak RSS MiB" "private MiB"
printf '%-34s %10s %12d\n' "zstd -T0 --long=27 -$level (floor)" "$b" $((floor_rss / 1024))
printf '%-34s %10s %12d %12d\n' "imgrecipe cosi, 2 GiB disk" "$a" $((r2 / 1024)) $((p2 / 1024))
printf '%-34s %10s %12d %12d\n' "imgrecipe cosi, 8 GiB disk" "$a8" $((r8 / 1024)) $((p8 / 1024))
printf 'ratio imgrecipe/floor (2 GiB): %s (goal <= 1.2)   sizes: cosi %d KiB, zstd files %d KiB\n' \
    "$(ratio "$a" "$b")" $((cosi_size >> 10)) $((zst_size >> 10))
if [[ -n ${BENCH_SUMMARY:-} ]]; then
    printf 'cosi|%s|%s|%s|%s|%s|%s\n' "$a" "$b" "$(ratio "$a" "$b")" $((r2 / 1024)) $((r8 / 1024)) \
        "$((cosi_size >> 10))/$((zst_size >> 10)) KiB" >> "$BENCH_SUMMARY"
fi
