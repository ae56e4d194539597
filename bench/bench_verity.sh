#!/usr/bin/env bash
# Benchmark of the verity hash tree (issue 10 §4): hashing a 1 GiB data
# partition into a hash partition with imgrecipe (`imgrecipe run` of a
# recipe calling imgrecipe.verity.format on the disk file) against
# `veritysetup format` of the same partitions (new loop devices with
# --offset --sizelimit each run, as imgrecipe attaches the disk each run; the
# same sha256 / 4096-byte blocks), interleaved run by run, the disk file in
# the page cache for both; imgrecipe's time is its whole run (start, attach,
# hash, detach). The target: imgrecipe <= 1.1x.
# Not a test: prints a table. Root, after building:
#   bash bench/bench_verity.sh [RUNS]      (default 5)
# IMGRECIPE=path picks the binary; BENCH_DIR the scratch parent (/var/tmp);
# SIZE the data size (default 1G); BENCH_SUMMARY=FILE appends a summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
runs=${1:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash bench/bench_verity.sh [RUNS]" >&2; exit 2; }
bin=$(realpath "${IMGRECIPE:-build/imgrecipe}")
[[ -x $bin ]] || { echo "no imgrecipe binary at $bin (build first, or set IMGRECIPE)" >&2; exit 2; }
((EUID == 0)) || { echo "run as root (loop devices)" >&2; exit 2; }
command -v veritysetup >/dev/null || { echo "veritysetup is not installed (cryptsetup-bin)" >&2; exit 2; }
size=${SIZE:-1G}
dir=$(mktemp -d "${BENCH_DIR:-/var/tmp}/bench-verity.XXXXXX")
loops=()
cleanup() {
    for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

# disk.open takes files in the build directory only.
mkdir -p "$dir/build"
disk=$dir/build/disk.raw
data_bytes=$(numfmt --from=iec "$size")
truncate -s $(( data_bytes + 64 * 1024 * 1024 + 2 * 1024 * 1024 )) "$disk"
printf 'label: gpt\nstart=2048, size=%d, name=data\nsize=60M, name=hash\n' $(( data_bytes / 512 )) | sfdisk -q "$disk"
table=$(sfdisk -J "$disk")
doff=$(( $(jq '.partitiontable.partitions[0].start' <<< "$table") * 512 ))
hoff=$(( $(jq '.partitiontable.partitions[1].start' <<< "$table") * 512 ))
hsize=$(( $(jq '.partitiontable.partitions[1].size' <<< "$table") * 512 ))
# Incompressible data, written once (not sparse: every block is read and hashed).
# (openssl dies of SIGPIPE when dd has what it needs.)
{ openssl enc -aes-128-ctr -pass pass:imgrecipe-bench -nosalt -pbkdf2 < /dev/zero 2>/dev/null || true; } \
    | dd of="$disk" bs=1M count=$(( data_bytes / 1048576 )) seek=$(( doff / 1048576 )) iflag=fullblock conv=notrunc status=none

cat > "$dir/hash.lua" <<LUA
local disk = require "imgrecipe.disk"
local verity = require "imgrecipe.verity"
return {
  name = "bench-verity", api = 1,
  run = function(ctx)
    local d = disk.open("$disk", { work_dir = ctx.work_dir .. "/d" })
    local info = verity.format(d, "1", "2")
    d:release()
    print("root hash " .. info.root_hash)
  end,
}
LUA

# The data written back now: else the first timed run (imgrecipe's) would
# pay for it, its fsync of the hash area flushing the whole backing file
# (the loop driver turns a device flush into an fsync of the file).
sync "$disk"
cat "$disk" > /dev/null  # the disk file in the page cache for both sides
# veritysetup's side, as imgrecipe's: new loop devices each run (a loop
# device's own cache would otherwise be warm from the run before).
veritysetup_run() {
    local d h
    d=$(losetup --find --show --read-only --offset "$doff" --sizelimit "$data_bytes" "$disk"); loops+=("$d")
    h=$(losetup --find --show --offset "$hoff" --sizelimit "$hsize" "$disk"); loops+=("$h")
    veritysetup format --hash sha256 --data-block-size 4096 --hash-block-size 4096 "$d" "$h" > /dev/null
    "$@"
    losetup -d "$d" "$h"
    loops=()
}

# Wall seconds and CPU seconds (user + system, the process and its children:
# what load on a shared machine does not change) of each run.
ours=() theirs=() ours_cpu=() theirs_cpu=()
run_ours() {
    /usr/bin/time -f '%e %U %S' -o "$dir/t" "$bin" run "$dir/hash.lua" --build-dir "$dir/build" > /dev/null 2> "$dir/ours.log" \
        || { tail -5 "$dir/ours.log"; exit 1; }
    read -r w u k < "$dir/t"; ours+=("$w"); ours_cpu+=("$(awk -v u="$u" -v k="$k" 'BEGIN { print u + k }')")
}
run_theirs() {
    /usr/bin/time -f '%e %U %S' -o "$dir/t" bash -c "$(declare -p doff data_bytes hoff hsize disk); $(declare -f veritysetup_run); loops=(); veritysetup_run true"
    read -r w u k < "$dir/t"; theirs+=("$w"); theirs_cpu+=("$(awk -v u="$u" -v k="$k" 'BEGIN { print u + k }')")
}
# Each side goes first every other run: what the run before leaves behind
# (the kernel finishing a detached loop device's release, write-back) is
# not always charged to the same side.
for ((i = 1; i <= runs; i++)); do
    if ((i % 2)); then run_ours; run_theirs; else run_theirs; run_ours; fi
done
# The tree is right: veritysetup verifies the hash imgrecipe printed.
"$bin" run "$dir/hash.lua" --build-dir "$dir/build" 2>/dev/null | awk '/root hash/ { print $3 }' > "$dir/rh"
dloop=$(losetup --find --show --read-only --offset "$doff" --sizelimit "$data_bytes" "$disk"); loops+=("$dloop")
hloop=$(losetup --find --show --read-only --offset "$hoff" --sizelimit "$hsize" "$disk"); loops+=("$hloop")
veritysetup verify "$dloop" "$hloop" "$(cat "$dir/rh")" || { echo "veritysetup verify failed on imgrecipe's tree" >&2; exit 1; }

m_ours=$(printf '%s\n' "${ours[@]}" | median)
m_theirs=$(printf '%s\n' "${theirs[@]}" | median)
c_ours=$(printf '%s\n' "${ours_cpu[@]}" | median)
c_theirs=$(printf '%s\n' "${theirs_cpu[@]}" | median)
r=$(ratio "$m_ours" "$m_theirs")
rc=$(ratio "$c_ours" "$c_theirs")
printf '%-40s %8s %8s\n' "verity hash tree, $size data, $runs runs" "wall s" "cpu s"
printf '%-40s %8.2f %8.2f\n' "imgrecipe (verity.format, whole run)" "$m_ours" "$c_ours"
printf '%-40s %8.2f %8.2f\n' "veritysetup format (+ losetup)" "$m_theirs" "$c_theirs"
printf '%-40s %8s %8s\n' "ratio (target <= 1.10)" "$r" "$rc"
[[ -z ${BENCH_SUMMARY:-} ]] || echo "verity $size: imgrecipe ${m_ours}s (cpu ${c_ours}s), veritysetup ${m_theirs}s (cpu ${c_theirs}s), ratio $r (cpu $rc)" >> "$BENCH_SUMMARY"
