// FAT filesystems cannot be mounted here (no vfat in the kernel, see
// machine-facts.md), so they are "staged": extracted with mtools into a
// directory that the mount layer bind-mounts (e.g. at /boot/efi), and on a
// successful release rebuilt from that directory with mkfs.vfat + mcopy and
// written back into the partition.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "host/system/cleanup.hpp"

namespace imgrecipe {

// The boot sector (BPB) fields needed to recreate a FAT filesystem identically.
struct FatInfo {
  int fat_bits = 0;               // 12, 16 or 32, from the cluster count
  std::string volume_id;          // "ABCD-1234", as blkid and fstab show it
  std::uint32_t volume_serial = 0;
  std::string label;              // root directory label, else the BPB one; "" if none
  std::uint32_t sector_size = 0;
  std::uint32_t cluster_sectors = 0;
  std::uint32_t reserved_sectors = 0;
  std::uint32_t num_fats = 0;
  std::uint32_t root_entries = 0;  // FAT12/16 only
  std::uint32_t media = 0;
  std::uint32_t fat_sectors = 0;   // sectors per FAT
  std::uint32_t hidden_sectors = 0;
  std::uint32_t sectors_per_track = 0;
  std::uint32_t heads = 0;
  std::uint32_t drive_number = 0;
  std::uint32_t backup_boot_sector = 0;  // FAT32 only
  std::uint64_t total_sectors = 0;
  std::uint64_t clusters = 0;

  std::uint64_t bytes() const { return total_sectors * sector_size; }
};

// Parses the boot sector at byte `offset` of `image` (file or block device).
// Throws ErrorKind::Usage if it is not a FAT filesystem.
FatInfo read_fat_info(const std::string& image, std::uint64_t offset);

// Throws ErrorKind::Usage naming the path when the tree `root` holds
// something FAT (through mtools) cannot store faithfully: symbolic links,
// special files, files of 4 GiB or more, invalid or case-colliding names.
void check_fat_storable(const std::string& root);

// The environment mtools runs with: host config ignored, UTF-8 names, UTC
// timestamps, no consistency-check refusals.
std::vector<std::string> mtools_env();

class FatStage {
 public:
  // Extracts the FAT filesystem at byte `offset` (partition length `size`) of
  // `image` into `dir` (created; if it exists it must be an empty directory),
  // keeping files, directories and modification times. `dir` is registered
  // for removal with the teardown stack.
  FatStage(std::string image, std::uint64_t offset, std::uint64_t size, std::string dir, bool read_only);
  // Discards (removes dir) unless commit() ran; never writes back.
  ~FatStage();
  FatStage(const FatStage&) = delete;
  FatStage& operator=(const FatStage&) = delete;

  const std::string& dir() const { return dir_; }
  const FatInfo& info() const { return info_; }
  bool read_only() const { return read_only_; }

  // Whether the tree differs from the extracted one (paths, types, sizes,
  // mtimes, contents).
  bool changed() const;

  // If changed and writable: rebuilds the filesystem from dir (same volume
  // ID, label, FAT type, geometry and size), checks it with fsck.fat, writes
  // it into the partition. Then removes dir. Fails, naming the path, if the
  // tree holds something FAT cannot store (symlinks, special files, files of
  // 4 GiB or more, invalid or case-colliding names); the image is then
  // untouched and dir kept for the caller to discard.
  void commit();
  // Removes dir without writing anything. Idempotent.
  void discard();

 private:
  struct Node {
    char type;  // 'f' file, 'd' directory, 'l' symlink, 'o' other
    std::uint64_t size;
    std::int64_t mtime_ns;
    std::uint64_t hash;  // of the contents, files only
  };

  static std::map<std::string, Node> scan(const std::string& root, bool hash);
  void extract();
  void write_back();

  std::string image_;
  std::uint64_t offset_;
  std::uint64_t size_;
  std::string dir_;
  bool read_only_;
  bool created_dir_ = false;
  bool done_ = false;
  FatInfo info_;
  std::map<std::string, Node> snapshot_;       // relative path -> state at extraction
  std::map<std::string, std::string> attrs_;   // relative path -> FAT attributes to restore ("RSH")
  TeardownEntry entry_;
};

}  // namespace imgrecipe
