// New filesystem UUIDs (ALIC resetPartitionsUuidsType: reset-all, §4.5).
#pragma once

#include <cstdint>
#include <string>

namespace imgrecipe {

// Gives the filesystem at [offset, offset + size) of `image` (a file, or a
// block device with offset 0 and size 0) the UUID `uuid`, or a new random
// one when empty, and returns it as blkid shows it. By type:
//  - ext2/3/4: e2fsck -fy, then tune2fs -U (on IMG?offset=N, no loop device);
//  - xfs: xfs_admin -U; btrfs: btrfstune -f -U (a loop device over a region
//    of a file: root needed);
//  - vfat: a new volume ID written into the boot sector and, on FAT32, its
//    backup ("ABCD-1234"; label and everything else untouched).
// Usage error for anything else (no filesystem, swap, verity hash).
std::string reset_filesystem_uuid(const std::string& image, std::uint64_t offset, std::uint64_t size,
                                  const std::string& uuid = "");

}  // namespace imgrecipe
