#!/usr/bin/env bash
# Runs every test tier: set-up, build, then unit, lua, integration (root, loop
# devices) and boot (QEMU) tests. Base images are built once and cached under
# ${IMGRECIPE_CACHE_DIR:-/var/cache/imgrecipe}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
# Build the base images first so their time is not charged to a test timeout.
tests/images/build-image.sh tiny >/dev/null
tests/images/build-image.sh debian-base >/dev/null
tests/images/build-image.sh debian-rpm >/dev/null
cd build
ctest --output-on-failure -L 'unit|lua' -j2
ctest --output-on-failure -L 'integration|boot'
