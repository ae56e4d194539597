#!/usr/bin/env bash
# Installs every build and runtime dependency of imgrecipe (Debian 12).
# Idempotent: apt-get only installs what is missing.
set -euo pipefail
packages=(
  # build
  build-essential cmake pkg-config
  libluajit-5.1-dev libyaml-cpp-dev libfmt-dev libmount-dev libfdisk-dev libblkid-dev libcryptsetup-dev libcrypt-dev doctest-dev
  # in-process hashing (OpenSSL EVP) and zstd compression (COSI output)
  libssl-dev libzstd-dev
  # runtime tools
  qemu-utils mtools dosfstools e2fsprogs fdisk util-linux zstd cpio
  # UKIs: objcopy assembles them, objdump reads them back in tests
  binutils
  # dm-verity checks in tests (veritysetup verify/dump)
  cryptsetup-bin
  # new disk layouts: mkfs.xfs/xfs_repair/xfs_admin, mkfs.btrfs/btrfs/btrfstune
  xfsprogs btrfs-progs
  # package sources: createrepo_c for RPM directories, dpkg-scanpackages for .deb directories
  createrepo-c dpkg-dev
  # package tests: rpmbuild and rpm (reading the test images' rpm databases)
  rpm
  # OS tree copy tests (setfacl/getfacl) and reading sfdisk -J output in tests
  acl attr jq
  # boot media (docs/iso.md): squashfs, ISO writing and reading, GRUB's BIOS
  # El Torito image and hybrid MBR, GRUB's EFI modules for an El Torito EFI loader
  xorriso squashfs-tools grub-pc-bin grub-efi-amd64-bin grub-common
  # test images and boot tests
  debootstrap qemu-system-x86 ovmf seabios openssl
  # signing flow tests: sbsign/sbverify of exported boot artifacts (docs/config.md, output.artifacts)
  sbsigntool
  # benchmarks
  time
  # `imgrecipe schema` test: an independent JSON Schema validator
  python3-jsonschema python3-yaml
  # sanitizer and fuzz builds (clang, its libFuzzer, ASan and UBSan runtimes; docs/testing.md)
  clang libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
echo "setup: all dependencies installed" >&2
