#!/usr/bin/env bash
# Runs every test tier: set-up, build, then unit, lua, the same two tiers
# again under AddressSanitizer + UndefinedBehaviorSanitizer, the fuzz
# targets' corpora and a short run of each fuzz target (one clang tree,
# build-asan, for both), then integration (root, loop devices) and boot
# (QEMU) tests side by side, three at a time, the guests one at a time
# (tests/lib/boot-check.sh holds a lock while QEMU runs). Base images are
# built once and cached under ${IMGRECIPE_CACHE_DIR:-/var/cache/imgrecipe},
# in the background while the compilers and the first tiers run (debootstrap
# waits on the network and dpkg, the compilers on the CPU).
# IMGRECIPE_FUZZ_SECONDS: fuzzing time per target (default 30; 0 only replays
# the corpora). IMGRECIPE_TEST_JOBS: tests at a time in the last tiers
# (default 3). See docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

mkdir -p build
images_log=$PWD/build/images.log
# In a process group of its own, so that a failed step below stops all of it
# (build-image.sh cleans up after itself on SIGTERM).
setsid bash -c 'for variant in tiny debian-base debian-rpm; do
    tests/images/build-image.sh "$variant" >/dev/null || exit
done' >"$images_log" 2>&1 &
images_pid=$!
trap '[[ -z ${images_pid:-} ]] || kill -TERM -- "-$images_pid" 2>/dev/null || true' EXIT

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
(cd build && ctest --output-on-failure -L 'unit|lua' -j2)
# The sanitized build lives in its own directory; build/ is unchanged.
# clang: it builds the sanitized tree about 3 times faster than gcc here.
# One tree for the ASan/UBSan tiers and the fuzz targets (IMGRECIPE_FUZZ
# implies the same sanitizers and adds coverage instrumentation, which the
# non-fuzzer binaries carry harmlessly): the libraries are compiled once,
# not twice.
cmake -S . -B build-asan -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGRECIPE_FUZZ=ON
cmake --build build-asan -j"$(nproc)" --target imgrecipe unit_tests fuzzers
(cd build-asan && ctest --output-on-failure -L 'unit|lua' -j2)
(cd build-asan && ctest --output-on-failure -L fuzz)
fuzz_seconds=${IMGRECIPE_FUZZ_SECONDS:-30}
if ((fuzz_seconds > 0)); then
    for target in config fstab grub recipe; do
        IMGRECIPE_FUZZ_BUILD=$PWD/build-asan tests/fuzz/run.sh "$target" "$fuzz_seconds"
    done
fi

# The base images are built before the tiers that read them, so their time is
# not charged to a test's timeout.
rc=0
wait "$images_pid" || rc=$?
images_pid=
cat "$images_log" >&2
((rc == 0)) || { echo "test.sh: building the base images failed (status $rc)" >&2; exit 1; }
# The image the dracut tests start from is made by the imgrecipe just built.
IMGRECIPE=$PWD/build/imgrecipe tests/images/derive-image.sh debian-dracut >/dev/null

cd build
ctest --output-on-failure -L 'integration|boot' -j"${IMGRECIPE_TEST_JOBS:-3}"
