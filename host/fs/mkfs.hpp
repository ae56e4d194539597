// Makes filesystems with a pinned feature set per type, so a disk built on
// any host is readable by the target's boot loader and kernel (not by
// whatever the build host's mke2fs.conf or mkfs defaults happen to be).
//
// | type  | tool (Debian 12)     | pinned                                                          |
// |-------|----------------------|-----------------------------------------------------------------|
// | ext4  | mke2fs 1.47          | MKE2FS_CONFIG=/dev/null (no host profile); -b 4096 -I 256       |
// |       |                      | -i 16384; -O none,has_journal,ext_attr,resize_inode,dir_index,  |
// |       |                      | filetype,extent,64bit,flex_bg,sparse_super,large_file,huge_file,|
// |       |                      | dir_nlink,extra_isize,metadata_csum (no orphan_file: e2fsck     |
// |       |                      | < 1.47 refuses it; no metadata_csum_seed/large_dir: GRUB 2.06   |
// |       |                      | refuses them); -E nodiscard,lazy_itable_init=1,               |
// |       |                      | lazy_journal_init=1 (a new disk reads as zeros)                 |
// | xfs   | mkfs.xfs 6.1         | -m crc=1,finobt=1,rmapbt=0,reflink=1,bigtime=1,inobtcount=1     |
// |       |                      | -i sparse=1,nrext64=0 -n ftype=1 -K (GRUB >= 2.06, Linux >= 5.10)|
// | vfat  | mkfs.fat 4.2         | FAT type and cluster size from the size (fat_geometry): FAT32   |
// |       |                      | only with >= 65525 clusters (the FAT spec's minimum), else      |
// |       |                      | FAT16 (FAT12 below 4085 clusters); -S 512 -f 2 --mbr=n,          |
// |       |                      | hidden sectors = the partition's start sector                   |
// | btrfs | mkfs.btrfs 6.2       | --csum crc32c -n 16384 -s 4096 -d single -m dup                  |
// |       |                      | -O extref,skinny-metadata,no-holes,^mixed-bg,^raid56,^raid1c34, |
// |       |                      | ^zoned -R free-space-tree (Linux >= 4.9; GRUB reads it)          |
//
// The argument sets are pure functions (mkfs_command) so they are tested
// without running anything.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace imgrecipe {

enum class FsType { Ext4, Xfs, Vfat, Btrfs };

// "ext4", "xfs", "vfat" or "fat32" (the same: FAT type chosen by size),
// "btrfs"; anything else is a usage error.
FsType parse_fs_type(const std::string& name);
const char* fs_type_name(FsType type);

// Where the filesystem goes: a block device (size 0 = all of it), or the
// region [offset, offset + size) of an image file.
struct FsTarget {
  std::string path;
  std::uint64_t offset = 0;  // bytes, a multiple of 512
  std::uint64_t size = 0;    // bytes; required for a region of a file
};

// A btrfs subvolume (ALIC storage.filesystems[].btrfs.subvolumes[]).
struct BtrfsSubvolume {
  std::string path;  // relative to the top level, e.g. "@home" or "var/@log"
  // qgroup limits in bytes (0: none); any limit enables quotas on the filesystem.
  std::uint64_t referenced_limit = 0;
  std::uint64_t exclusive_limit = 0;
};

struct MkfsOptions {
  FsType type = FsType::Ext4;
  std::string label;  // ext4 <= 16 bytes, xfs <= 12, vfat <= 11, btrfs <= 255
  // ext4/xfs/btrfs: a GUID; vfat: a volume ID "ABCD-1234". Empty: random.
  std::string uuid;
  // btrfs only: subvolumes created after mkfs, in order (parents first).
  std::vector<BtrfsSubvolume> btrfs_subvolumes;
  // btrfs subvolumes need a mount: a directory in the build dir to mount on.
  std::string work_dir;
};

struct FatGeometry {
  int fat_bits = 32;
  unsigned sectors_per_cluster = 1;
  unsigned reserved_sectors = 32;
  unsigned root_entries = 0;  // FAT12/16
  std::uint64_t clusters = 0;
};

// The FAT type and cluster size for a filesystem of `size` bytes: FAT32
// whenever it can have the 65525 clusters the FAT specification requires
// (cluster size as Microsoft's table, 512 bytes below 260 MiB: from 33 MiB
// on), else FAT16 with the smallest cluster that keeps it under 65525
// clusters (512 bytes up to 32 MiB), else FAT12. Usage error below 1 MiB.
FatGeometry fat_geometry(std::uint64_t size);

// The command line that makes the filesystem (pure). `device` is what the
// tool writes to: the target path for ext4/vfat (which take an offset), the
// loop device of the region for xfs/btrfs.
std::vector<std::string> mkfs_command(const MkfsOptions& opts, const FsTarget& target, const std::string& device);

// The environment mkfs runs with (MKE2FS_CONFIG pinned, LC_ALL=C).
std::vector<std::string> mkfs_env();

// Throws ErrorKind::Unsupported naming the Debian package when `tool` is not
// an executable on PATH (checked before a disk is touched).
void require_tool(const std::string& tool, const std::string& package);

// Makes the filesystem. A region of a file is written in place by mke2fs
// and mkfs.fat; xfs and btrfs have no offset option, so the region is
// attached as a loop device for them (root needed). Subvolumes are created
// and their quotas through a mount on opts.work_dir. Errors name the command and its output.
void make_filesystem(const FsTarget& target, const MkfsOptions& opts);

}  // namespace imgrecipe
