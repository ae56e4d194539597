#!/usr/bin/env bash
# Benchmark: time and peak memory of `imgrecipe build` on the Debian base
# image for each output format, and how much of the image is really written
# (sparseness). Not a test: prints a table. Run as root after building.
#   bench/bench_build.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
bin=${IMGRECIPE:-build/imgrecipe}
base=$(tests/images/build-image.sh debian-base)
work=$(mktemp -d /var/tmp/imgrecipe-bench.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
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
printf '%-10s %10s %12s %14s %14s\n' format "median s" "peak RSS MiB" "output MiB" "allocated MiB"
for fmt in raw qcow2 vhd vhd-fixed vhdx; do
    times=()
    for _ in $(seq "$runs"); do
        out=$work/out.$fmt
        /usr/bin/time -f '%e %M' -o "$work/time" "$bin" build "$work/config.yaml" --image-file "$base" \
            --output-image-file "$out" --output-image-format "$fmt" --build-dir "$work/b" --log-level warn
        read -r secs rss < "$work/time"
        times+=("$secs")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '%-10s %10s %12d %14d %14d\n' "$fmt" "$median" $((rss / 1024)) \
        $(( $(stat -c %s "$out") / 1048576 )) $(( $(du -k "$out" | cut -f1) / 1024 ))
    rm -f "$out"
done
