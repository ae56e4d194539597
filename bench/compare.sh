#!/usr/bin/env bash
# Side-by-side benchmark: imgrecipe against the floors a user would compare it
# with, on the same 2 GiB Debian base image, warm cache. Every floor syncs its
# output (imgrecipe's output is durable: fsync before the rename). Runs are
# interleaved (imgrecipe, floor, imgrecipe, floor, ...) so load on a shared
# machine hits both sides alike. Prints medians, ratios against the goals of
# issue 7, peak RSS and output allocation. Not a test. Root, after building:
#   bash bench/compare.sh [RUNS]          (RUNS: timed runs per side, default 5)
# IMGRECIPE=path picks the binary (default build/imgrecipe); BENCH_DIR=dir the
# scratch directory's parent (default /var/tmp; needs about 6 GiB free);
# BENCH_NICE the priority both sides run at (default -10).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash bench/compare.sh [RUNS]" >&2; exit 2; }
bin=$(realpath "${IMGRECIPE:-build/imgrecipe}")
[[ -x $bin ]] || { echo "no imgrecipe binary at $bin (build first, or set IMGRECIPE)" >&2; exit 2; }
((EUID == 0)) || { echo "run as root (imgrecipe build needs loop devices and mounts)" >&2; exit 2; }
for tool in qemu-img cp sync du /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

# Both sides run at a raised priority (BENCH_NICE, default -10) so other work
# on the machine disturbs them less; children (qemu-img, cp) inherit it.
renice -n "${BENCH_NICE:--10}" -p $$ >/dev/null
base=$(tests/images/build-image.sh debian-base)
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/imgrecipe-compare.XXXXXX")
free_mib=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
if ((free_mib < 6144)); then
    rmdir "$work"
    echo "only $free_mib MiB free under ${BENCH_DIR:-/var/tmp}; about 6 GiB are needed (set BENCH_DIR)" >&2
    exit 2
fi
cleanup() { rm -rf --one-file-system -- "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '%s\n' "$*" >&2; }

# Inputs on the same filesystem as the outputs: the base image as raw and as qcow2.
cp --sparse=always "$base" "$work/in.raw"
qemu-img convert -O qcow2 "$base" "$work/in.qcow2"
head -c 1G /dev/urandom > "$work/big.bin"   # random: neither side can skip it as zeros
sync   # the setup's writeback must not land on the first timed run
load_before=$(cut -d' ' -f1 /proc/loadavg)

cat > "$work/noop.yaml" <<'YAML'
os: {}
YAML
cat > "$work/hostname.yaml" <<'YAML'
os:
  hostname: bench
YAML
cat > "$work/bigfile.yaml" <<YAML
os:
  hostname: bench
  additionalFiles:
    - {source: $work/big.bin, destination: /opt/big.bin}
YAML

# imgrecipe CONFIG IN OUT FORMAT: one build; its peak RSS (KiB) goes to $work/rss.
imgrecipe() {
    /usr/bin/time -f '%M' -o "$work/rss" "$bin" build "$work/$1" --image-file "$work/$2" \
        --output-image-file "$work/$3" --output-image-format "$4" --build-dir "$work/b" --log-level warn
}
# The floors: what the same result costs with plain tools, output synced.
floor_qcow2_vhdx() {  # two conversions (the first makes the raw copy one would edit)
    qemu-img convert -O raw "$work/in.qcow2" "$work/floor.raw"
    qemu-img convert -O vhdx -o subformat=dynamic,block_size=2097152 "$work/floor.raw" "$work/floor.vhdx"
    sync "$work/floor.vhdx"
}
floor_raw_raw() {
    cp --sparse=always "$work/in.raw" "$work/floor.raw"
    sync "$work/floor.raw"
}
# Removing the previous run's files is not timed on either side; the sync
# lets each timed run start with no writeback pending from the one before.
clean_outputs() { rm -f -- "$work"/out.* "$work"/floor.*; sync; }

# seconds CMD...: wall time of one run, printed with microseconds.
seconds() {
    local t0=$EPOCHREALTIME
    "$@"
    local t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
meets() { awk -v r="$1" -v g="$2" 'BEGIN { exit !(r <= g) }' && echo ok || echo MISSED; }

# case NAME GOAL FLOOR-FN IMGRECIPE-ARGS...: interleaved runs after one warm-up of each side.
rows=()
bench_case() {
    local name=$1 goal=$2 floor=$3; shift 3
    local ours=() theirs=()
    log "== $name: warm-up"
    clean_outputs; imgrecipe "$@"; clean_outputs; "$floor"
    for i in $(seq "$runs"); do
        clean_outputs; ours+=("$(seconds imgrecipe "$@")")
        clean_outputs; theirs+=("$(seconds "$floor")")
        log "   run $i: imgrecipe ${ours[-1]} s, floor ${theirs[-1]} s"
    done
    local a b r am bm pr i pairs=()
    a=$(printf '%s\n' "${ours[@]}" | median)
    b=$(printf '%s\n' "${theirs[@]}" | median)
    am=$(printf '%s\n' "${ours[@]}" | sort -n | head -1)
    bm=$(printf '%s\n' "${theirs[@]}" | sort -n | head -1)
    for i in "${!ours[@]}"; do pairs+=("$(ratio "${ours[$i]}" "${theirs[$i]}")"); done
    pr=$(printf '%s\n' "${pairs[@]}" | median)
    r=$(ratio "$a" "$b")
    rows+=("$(printf '%-22s %9s %9s %7s× %8s× %7s %-6s | %6s %6s %6s×' "$name" "$a" "$b" "$r" "$pr" "≤ $goal×" \
        "$(meets "$pr" "$goal")" "$am" "$bm" "$(ratio "$am" "$bm")")")
}

bench_case "no-op qcow2→vhdx" 1.10 floor_qcow2_vhdx noop.yaml in.qcow2 out.vhdx vhdx
bench_case "no-op raw→raw" 1.20 floor_raw_raw noop.yaml in.raw out.raw raw
bench_case "hostname qcow2→vhdx" 1.15 floor_qcow2_vhdx hostname.yaml in.qcow2 out.vhdx vhdx

# Peak RSS: must not grow with the data written into the image.
log "== peak RSS and allocation"
alloc() { du -k "$1" | cut -f1; }
clean_outputs; imgrecipe hostname.yaml in.qcow2 out.vhdx vhdx; rss_small=$(<"$work/rss")
clean_outputs; imgrecipe bigfile.yaml in.qcow2 out.vhdx vhdx; rss_big=$(<"$work/rss")
big_kib=$(alloc "$work/big.bin")
alloc_vhdx=$(ratio "$(alloc "$work/out.vhdx")" $(($(alloc "$work/in.qcow2") + big_kib)))
clean_outputs; imgrecipe bigfile.yaml in.raw out.raw raw
alloc_raw=$(ratio "$(alloc "$work/out.raw")" $(($(alloc "$work/in.raw") + big_kib)))
clean_outputs

load_after=$(cut -d' ' -f1 /proc/loadavg)
echo
echo "imgrecipe vs floors, $runs interleaved runs each, medians in seconds ($(date -u +%F), $(nproc) cores, $(uname -r))"
echo "load average before/after: $load_before/$load_after$(awk -v a="$load_before" -v b="$load_after" -v n="$(nproc)" \
    'BEGIN { if (a > n / 2 || b > n / 2) printf " — a busy machine: expect noisy figures, use more runs" }')"
echo "floors: qcow2→vhdx = qemu-img convert to raw + qemu-img convert to vhdx + sync; raw→raw = cp --sparse=always + sync"
echo "ratio = median imgrecipe / median floor; paired = median of the per-run ratios (each run next to its"
echo "floor, so it is the steadier figure on a loaded machine, and the one checked against the goal)"
printf '%-22s %9s %9s %8s %9s %7s %-6s | %s\n' case imgrecipe floor ratio paired goal "" "fastest: imgrecipe floor ratio"
printf '%s\n' "${rows[@]}"
rss_ratio=$(ratio "$rss_big" "$rss_small")
printf '%-22s %9s %9s %7s× %9s %7s %s\n' "peak RSS MiB, +1 GiB" "$((rss_small / 1024))" "$((rss_big / 1024))" \
    "$rss_ratio" "" "≤ 64 MiB" "$( ((rss_big <= 65536 && rss_small <= 65536)) && awk -v r="$rss_ratio" 'BEGIN { exit !(r <= 1.10) }' && echo ok || echo MISSED)"
printf '%-22s %9s %9s %7s× %9s %7s %s\n' "alloc vhdx/(in+1 GiB)" "" "" "$alloc_vhdx" "" "≤ 1.05×" "$(meets "$alloc_vhdx" 1.05)"
printf '%-22s %9s %9s %7s× %9s %7s %s\n' "alloc raw/(in+1 GiB)" "" "" "$alloc_raw" "" "≤ 1.05×" "$(meets "$alloc_raw" 1.05)"
