#!/usr/bin/env bash
# The main job: set up, build imgrecipe, build the Debian base image (from
# Debian packages, cached), customize it with examples/quickstart/config.yaml
# and say where the output is and how to boot it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build
cmake --build build -j"$(nproc)"
base=$(tests/images/build-image.sh debian-base)
# The config names build/base/debian-base.raw; the input is only read.
mkdir -p build/base build/quickstart
ln -sfn "$base" build/base/debian-base.raw
./build/imgrecipe build examples/quickstart/config.yaml --build-dir build/work
out=$(pwd)/build/quickstart/imgrecipe-demo.vhdx
cat <<MSG

Done. The customized image is $out
Boot it (serial console in this terminal; log in as root with no password, quit with Ctrl-A X):
  cp /usr/share/OVMF/OVMF_VARS_4M.fd /tmp/vars.fd
  qemu-system-x86_64 -machine q35 -accel tcg -cpu max -m 1024 -smp 2 \\
    -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \\
    -drive if=pflash,format=raw,file=/tmp/vars.fd \\
    -drive if=none,id=d0,file=$out,format=vhdx,snapshot=on -device virtio-blk-pci,drive=d0 \\
    -nic none -nographic
Or check it automatically: tests/lib/boot-check.sh --image $out --format vhdx --marker 'imgrecipe-demo: hello'
MSG
