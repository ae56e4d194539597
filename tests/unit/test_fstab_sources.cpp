// fs/os_mount: the image's /etc/fstab parsed and its sources matched to
// partitions, without mounting anything.
#include <doctest.h>

#include <string>
#include <vector>

#include "host/fs/os_mount.hpp"
#include "host/system/error.hpp"

using namespace imgrecipe;

namespace {

std::vector<DiskPartition> two_partitions() {
  std::vector<DiskPartition> parts(2);
  parts[0].part.number = 1;
  parts[0].part.uuid = "5A1B2C3D-0001-4E5F-8A9B-0C1D2E3F4A5B";
  parts[0].part.label = "esp";
  parts[0].fs = {"vfat", "ABCD-1234", "EFI"};
  parts[1].part.number = 2;
  parts[1].fs = {"ext4", "0f3e1c6a-52a4-4b8e-9d51-3c1f0e2b7a90", "rootfs"};
  return parts;
}

}  // namespace

TEST_CASE("fstab sources: entries in order, tags and quoting as written") {
  auto entries = parse_fstab(
      "# comment\n"
      "UUID=0f3e1c6a-52a4-4b8e-9d51-3c1f0e2b7a90 / ext4 errors=remount-ro 0 1\n"
      "\n"
      "LABEL=EFI /boot/efi vfat umask=0077,nofail 0 2\n");
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].source == "UUID=0f3e1c6a-52a4-4b8e-9d51-3c1f0e2b7a90");
  CHECK(entries[0].target == "/");
  CHECK(entries[1].fstype == "vfat");
  CHECK(entries[1].options == "umask=0077,nofail");
}

TEST_CASE("fstab sources: sources resolve by tag, /dev/disk/by-* path and kernel device name") {
  const auto parts = two_partitions();
  CHECK(resolve_fstab_source("UUID=0F3E1C6A-52A4-4B8E-9D51-3C1F0E2B7A90", parts) == &parts[1]);
  CHECK(resolve_fstab_source("UUID=\"abcd-1234\"", parts) == &parts[0]);
  CHECK(resolve_fstab_source("PARTUUID=5a1b2c3d-0001-4e5f-8a9b-0c1d2e3f4a5b", parts) == &parts[0]);
  CHECK(resolve_fstab_source("LABEL=rootfs", parts) == &parts[1]);
  CHECK(resolve_fstab_source("/dev/disk/by-partlabel/esp", parts) == &parts[0]);
  CHECK(resolve_fstab_source("/dev/vda2", parts) == &parts[1]);
  CHECK(resolve_fstab_source("/dev/nvme0n1p1", parts) == &parts[0]);
  CHECK(resolve_fstab_source("/dev/vda3", parts) == nullptr);
  CHECK(resolve_fstab_source("LABEL=Rootfs", parts) == nullptr);
}

TEST_CASE("fstab sources: a device number too large for an int refers to no partition") {
  // Found by tests/fuzz/fuzz_fstab: std::stoi threw std::out_of_range.
  const auto parts = two_partitions();
  CHECK(resolve_fstab_source("/dev/vda99999999999999999", parts) == nullptr);
  CHECK(resolve_fstab_source("/dev/sda4294967298", parts) == nullptr);
}
