// libFuzzer target: the image's /etc/fstab as OsMount reads it
// (host/fs/fstab.hpp): parse_fstab, then resolve_fstab_source for every
// entry against a few fake partitions (GPT and MBR, with and without a
// filesystem). A Usage error is how an unparsable fstab is reported; anything
// else escaping is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "host/fs/fstab.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace imgrecipe;

namespace {

std::vector<DiskPartition> fake_partitions() {
  std::vector<DiskPartition> parts(4);
  parts[0].part = {1, 1 << 20, 100 << 20, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System",
                   "5a1b2c3d-0001-4e5f-8a9b-0c1d2e3f4a5b", "esp"};
  parts[0].fs = {"vfat", "ABCD-1234", "EFI"};
  parts[1].part = {2, 101 << 20, 1 << 30, "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "Linux root (x86-64)",
                   "5a1b2c3d-0002-4e5f-8a9b-0c1d2e3f4a5b", "root"};
  parts[1].fs = {"ext4", "0f3e1c6a-52a4-4b8e-9d51-3c1f0e2b7a90", "rootfs"};
  parts[2].part = {3, 2u << 30, 1 << 30, "0x83", "Linux", "deadbeef-03", ""};
  parts[2].fs = {"xfs", "9b2f4d1e-7c3a-4e8b-a1d6-2f5e8c9b0a14", ""};
  parts[3].part = {15, 3u << 30, 1 << 20, "0x82", "Linux swap", "deadbeef-0f", ""};
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_level(log::Level::Off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<DiskPartition> parts = fake_partitions();
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The whole input as one source too: reaches the tag and device-name
  // matching with bytes libmount's parser would split or unescape.
  const DiskPartition* p = resolve_fstab_source(text, parts);
  if (p != nullptr && (p < parts.data() || p >= parts.data() + parts.size())) fuzz::finding("pointer outside parts");
  try {
    for (const FstabEntry& e : parse_fstab(text)) {
      p = resolve_fstab_source(e.source, parts);
      if (p != nullptr && (p < parts.data() || p >= parts.data() + parts.size())) fuzz::finding("pointer outside parts");
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Usage) fuzz::finding(std::string("unexpected error kind: ") + e.what());
  }
  return 0;
}
