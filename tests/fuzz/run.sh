#!/usr/bin/env bash
# Runs one libFuzzer target for a while: tests/fuzz/run.sh TARGET SECONDS
#   TARGET   config | fstab | grub | recipe
#   SECONDS  total fuzzing time (default 60)
# Uses the fuzz build in $IMGRECIPE_FUZZ_BUILD (default build-fuzz; configured
# and built here if missing: clang, -DIMGRECIPE_FUZZ=ON). The committed corpus
# tests/fuzz/corpus/TARGET is read only; new inputs go to
# $IMGRECIPE_FUZZ_BUILD/fuzz-work/TARGET/corpus, which persists between runs,
# and a crash is written there as crash-<sha1> (then the exit code is non-zero).
# Extra arguments after SECONDS go to libFuzzer (e.g. -jobs=2, -max_len=8192).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${1:?usage: run.sh TARGET [SECONDS] [libFuzzer args...]}
seconds=${2:-60}
shift $(($# >= 2 ? 2 : 1))
[[ -d $here/corpus/$target ]] || { echo "run.sh: unknown target '$target' (no $here/corpus/$target)" >&2; exit 2; }

build=${IMGRECIPE_FUZZ_BUILD:-$root/build-fuzz}
if [[ ! -x $build/tests/fuzz/fuzz_$target ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGRECIPE_FUZZ=ON >/dev/null
    nice cmake --build "$build" -j"$(nproc)" --target "fuzz_$target"
fi

work=$build/fuzz-work/$target
mkdir -p "$work/corpus"
dict=()
[[ -f $here/$target.dict ]] && dict=(-dict="$here/$target.dict")
echo "fuzz $target: ${seconds}s, new inputs in $work/corpus" >&2
# -timeout: an input taking 25 s is a hang worth reporting (all targets run
# in milliseconds). -rss_limit_mb: well above any legitimate input.
# -print_final_stats: the summary CI logs keep.
exec nice "$build/tests/fuzz/fuzz_$target" "${dict[@]}" -max_total_time="$seconds" -timeout=25 \
    -rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=1 "$@" "$work/corpus" "$here/corpus/$target"
