#!/usr/bin/env bash
# Runs every test tier: set-up, build, then unit, lua, the same two tiers
# again under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan, clang), the
# fuzz targets' corpora and a short run of each fuzz target (build-fuzz,
# clang), integration (root, loop devices) and boot (QEMU) tests. Base images
# are built once and cached under ${IMGRECIPE_CACHE_DIR:-/var/cache/imgrecipe}.
# IMGRECIPE_FUZZ_SECONDS: fuzzing time per target (default 30; 0 only replays
# the corpora). See docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
# Sanitizer and fuzz builds live in their own directories; build/ is unchanged.
# clang for both: it builds the sanitized tree about 3 times faster than gcc here.
cmake -S . -B build-asan -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGRECIPE_SANITIZE=ON
cmake --build build-asan -j"$(nproc)" --target imgrecipe unit_tests
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGRECIPE_FUZZ=ON
cmake --build build-fuzz -j"$(nproc)" --target fuzzers
# Build the base images first so their time is not charged to a test timeout.
tests/images/build-image.sh tiny >/dev/null
tests/images/build-image.sh debian-base >/dev/null
tests/images/build-image.sh debian-rpm >/dev/null
(cd build && ctest --output-on-failure -L 'unit|lua' -j2)
(cd build-asan && ctest --output-on-failure -L 'unit|lua' -j2)
(cd build-fuzz && ctest --output-on-failure -L fuzz)
fuzz_seconds=${IMGRECIPE_FUZZ_SECONDS:-30}
if ((fuzz_seconds > 0)); then
    for target in config fstab grub recipe; do
        IMGRECIPE_FUZZ_BUILD=$PWD/build-fuzz tests/fuzz/run.sh "$target" "$fuzz_seconds"
    done
fi
cd build
ctest --output-on-failure -L 'integration|boot'
