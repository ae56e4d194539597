// Shrinks an ext2/3/4 filesystem and its partition to the minimum (ALIC
// §4.4, done before COSI output). xfs cannot shrink; btrfs and vfat are not
// shrunk (as in ALIC).
#pragma once

#include <cstdint>
#include <string>

namespace imgrecipe {

struct ShrinkResult {
  std::uint64_t old_size = 0;  // partition bytes before
  std::uint64_t new_size = 0;  // partition bytes after (= the filesystem's size)
};

// e2fsck -fy and resize2fs -M on a loop device over the partition (root
// needed: resize2fs would truncate an image file), then the partition's end
// moved to the filesystem's new end with libfdisk; its start never moves.
// Usage error if partition `number` does not hold ext2/3/4.
ShrinkResult shrink_ext_partition(const std::string& disk, int number);

// Bytes an ext2/3/4 filesystem at `offset` of `disk` spans (block count times
// block size, from its superblock; tune2fs -l would say the same). Usage
// error if no ext superblock is there.
std::uint64_t ext_filesystem_size(const std::string& disk, std::uint64_t offset);

}  // namespace imgrecipe
