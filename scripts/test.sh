#!/usr/bin/env bash
# Runs every test tier: set-up, build, then unit, lua, the same two tiers
# again under AddressSanitizer + UndefinedBehaviorSanitizer, the fuzz
# targets' corpora and a short run of each fuzz target (one clang tree,
# build-asan, for both), integration (root, loop devices; two at a time) and
# boot (QEMU; one at a time) tests. Base images
# are built once and cached under ${IMGRECIPE_CACHE_DIR:-/var/cache/imgrecipe}.
# IMGRECIPE_FUZZ_SECONDS: fuzzing time per target (default 30; 0 only replays
# the corpora). See docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
# The sanitized build lives in its own directory; build/ is unchanged.
# clang: it builds the sanitized tree about 3 times faster than gcc here.
# One tree for the ASan/UBSan tiers and the fuzz targets (IMGRECIPE_FUZZ
# implies the same sanitizers and adds coverage instrumentation, which the
# non-fuzzer binaries carry harmlessly): the libraries are compiled once,
# not twice.
cmake -S . -B build-asan -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGRECIPE_FUZZ=ON
cmake --build build-asan -j"$(nproc)" --target imgrecipe unit_tests fuzzers
# Build the base images first so their time is not charged to a test timeout.
tests/images/build-image.sh tiny >/dev/null
tests/images/build-image.sh debian-base >/dev/null
tests/images/build-image.sh debian-rpm >/dev/null
(cd build && ctest --output-on-failure -L 'unit|lua' -j2)
(cd build-asan && ctest --output-on-failure -L 'unit|lua' -j2)
(cd build-asan && ctest --output-on-failure -L fuzz)
fuzz_seconds=${IMGRECIPE_FUZZ_SECONDS:-30}
if ((fuzz_seconds > 0)); then
    for target in config fstab grub recipe; do
        IMGRECIPE_FUZZ_BUILD=$PWD/build-asan tests/fuzz/run.sh "$target" "$fuzz_seconds"
    done
fi
cd build
# Two integration tests at a time (tests/CMakeLists.txt: each has its own
# T_TMP, loop devices and mounts); boot tests are RUN_SERIAL and run alone.
ctest --output-on-failure -L 'integration|boot' -j"${IMGRECIPE_TEST_JOBS:-2}"
