#!/usr/bin/env bash
# The speed goals of issue 8 §6 in one run, side by side: the repartitioning
# build against its floor (bench_repartition.sh, 2 GiB and 8 GiB disks) and
# COSI output against `zstd -T0 --long=27 -9` (bench_cosi.sh), and (issue 9
# §4) the LiveOS ISO build against mksquashfs + xorriso (bench_iso.sh), each script's
# own table first, then one combined table. Root, after building:
#   bash bench/run-all.sh [RUNS]        (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
export BENCH_SUMMARY=$summary
bash bench/bench_repartition.sh "$runs"
echo
bash bench/bench_cosi.sh "$runs"
echo
bash bench/bench_iso.sh "$runs"
echo
echo "== issue 8 §6 ($(date -u +'%F %H:%M') UTC, $(nproc) cores, $(uname -r), $runs runs each, medians)"
printf '%-38s %9s %9s %7s %6s %9s %s\n' case imgrecipe floor ratio goal "RSS MiB" "(RSS goal: <= 64, flat)"
while IFS='|' read -r name f1 f2 f3 f4 f5 f6 f7 f8 f9; do
    case $name in
        repartition*)  # size|build|storage|floor|floor+initrd|stor/fl|build/(fl+initrd)|build/fl|own|+children
            printf '%-38s %9s %9s %7s %6s %9s %s\n' "$name storage step" "$f2" "$f3" "$f5" "1.3" "$f8" "(+children $f9)"
            printf '%-38s %9s %9s %7s %6s\n' "$name build vs floor+initramfs" "$f1" "$f4" "$f6" "1.3"
            printf '%-38s %9s %9s %7s %6s\n' "$name build vs floor" "$f1" "$f3" "$f7" "1.3"
            ;;
        cosi)  # cosi|ours|floor|ratio|rss2|rss8|sizes
            printf '%-38s %9s %9s %7s %6s %9s %s\n' "cosi (RSS 2G / 8G)" "$f1" "$f2" "$f3" "1.2" "$f4 / $f5" "(sizes $f6)"
            ;;
        iso)  # iso|segment|floor|seg/floor|(build-dracut)/floor|rss small|rss large
            printf '%-38s %9s %9s %7s %6s %9s %s\n' "iso squashfs+ISO (RSS small / +1G)" "$f1" "$f2" "$f3" "1.2" \
                "$f5 / $f6" "(build without dracut / floor: $f4)"
            ;;
    esac
done < "$summary"
