// Filesystem identification with libblkid, on a file region or a device.
#pragma once

#include <cstdint>
#include <string>

namespace imgrecipe {

struct FsInfo {
  std::string type;   // "ext4", "vfat", ... empty if none found
  std::string uuid;
  std::string label;
};

FsInfo probe_filesystem(const std::string& path, std::uint64_t offset = 0, std::uint64_t size = 0);

}  // namespace imgrecipe
