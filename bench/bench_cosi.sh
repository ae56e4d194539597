#!/usr/bin/env bash
# Benchmark of COSI output (issue 8 §6): imgrecipe's in-process writer
# (imgrecipe.host.cosi.write: GPT region + every partition compressed with
# libzstd, hashed, put in the tar) against the floor, `zstd -T0 --long=27
# -<level>` of the same partition images (extracted beforehand, not timed),
# side by side; and imgrecipe's peak RSS on a 2 GiB and an 8 GiB disk (same
# data, more zeros), which must not grow with the disk. Not a test: prints a
# table. Run as root after building.
#   bench/bench_cosi.sh [LEVEL]
set -euo pipefail
cd "$(dirname "$0")/.."
level=${1:-9}
bin=${IMGRECIPE:-build/imgrecipe}
base=$(tests/images/build-image.sh debian-base)
work=$(mktemp -d /var/tmp/imgrecipe-bench-cosi.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
cat > "$work/write.lua" <<'LUA'
return {
  name = "bench-cosi",
  params = { disk = { required = true }, output = { required = true }, level = { default = "9" } },
  run = function(ctx)
    require("imgrecipe.host.cosi").write(ctx.params.disk, ctx.params.output,
      { os_arch = "x86_64", os_release = "ID=bench\n", bootloader = { type = "grub" }, packages = {}, mounts = {} },
      { level = tonumber(ctx.params.level), check = false, work_dir = ctx.work_dir })
  end,
}
LUA
run_cosi() {  # DISK -> "seconds peakKiB"
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" run "$work/write.lua" --build-dir "$work/b" \
        --param disk="$1" --param output="$work/out.cosi" --param level="$level" --log-level warn
    cat "$work/time"
}
# The floor: zstd over each partition image and the GPT region.
mkdir -p "$work/parts"
dd if="$base" of="$work/parts/gpt.raw" bs=512 count=34 status=none
sfdisk -J "$base" | jq -r '.partitiontable.partitions[] | "\(.start) \(.size)"' > "$work/table"
n=0
while read -r start size; do
    n=$((n + 1))
    dd if="$base" of="$work/parts/p$n.raw" bs=512 skip="$start" count="$size" conv=sparse status=none
done < "$work/table"
floor_start=$(date +%s.%N)
floor_rss=0
for f in "$work"/parts/*.raw; do
    /usr/bin/time -f '%M' -o "$work/time" zstd -q -T0 --long=27 -"$level" -f "$f" -o "$f.zst"
    floor_rss=$(( $(cat "$work/time") > floor_rss ? $(cat "$work/time") : floor_rss ))
done
floor=$(echo "$(date +%s.%N) - $floor_start" | bc)
read -r ours rss2 <<< "$(run_cosi "$base")"
cosi_size=$(stat -c %s "$work/out.cosi")
zst_size=$(cat "$work"/parts/*.zst | wc -c)

# An 8 GiB disk: the same table and partitions, the disk grown with zeros
# (a sparse file) and a last partition over the new space.
cp --sparse=always "$base" "$work/big.raw"
truncate -s 8G "$work/big.raw"
sfdisk --relocate gpt-bak-std "$work/big.raw" > /dev/null 2>&1
echo ',,L' | sfdisk --append "$work/big.raw" > /dev/null 2>&1
read -r ours8 rss8 <<< "$(run_cosi "$work/big.raw")"

printf '%-34s %10s %12s\n' "" "seconds" "peak RSS MiB"
printf '%-34s %10.1f %12d\n' "zstd -T0 --long=27 -$level (floor)" "$floor" $((floor_rss / 1024))
printf '%-34s %10.1f %12d\n' "imgrecipe cosi, 2 GiB disk" "$ours" $((rss2 / 1024))
printf '%-34s %10.1f %12d\n' "imgrecipe cosi, 8 GiB disk" "$ours8" $((rss8 / 1024))
printf 'ratio imgrecipe/floor (2 GiB): %.2f   sizes: cosi %d MiB, zstd files %d MiB\n' \
    "$(echo "$ours / $floor" | bc -l)" $((cosi_size >> 20)) $((zst_size >> 20))
