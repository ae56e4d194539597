// A new root assembled from chosen block devices: each mounted read-write at
// a chosen path of a root directory (a new disk's layout, before anything is
// copied into it). Targets are resolved inside the new root (openat2
// RESOLVE_IN_ROOT), parents are mounted before their children, and release
// goes in reverse through the teardown stack. FAT where the kernel cannot
// mount vfat is staged with mtools (FatStage) and bind-mounted, and written
// back into the device on a committed release.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/fs/fat_stage.hpp"
#include "host/fs/mount.hpp"
#include "host/fs/root_dir.hpp"

namespace imgrecipe {

struct MountMapEntry {
  std::string path;     // absolute path inside the new root; "/" is the root itself
  std::string device;   // host block device (e.g. /dev/loop3p2)
  std::string fstype;   // empty: probed from the device (libblkid)
  std::string options;  // extra mount options ("" = defaults)
};

struct MappedMount {
  std::string path;    // inside the root
  std::string device;
  std::string fstype;
  bool staged = false;  // FAT content staged through mtools
};

class MountMap {
 public:
  struct Options {
    // Stage FAT even where the kernel could mount vfat (tests).
    bool stage_fat = false;
  };
  // Mounts every entry under `root_dir` (created if missing; it must be empty
  // when "/" is not in the map), in path order. `work_dir` holds FAT
  // staging directories. Usage errors name the path: relative, duplicated,
  // a device that is not a block device or has no filesystem.
  static std::unique_ptr<MountMap> mount(const std::string& root_dir, const std::string& work_dir,
                                         std::vector<MountMapEntry> entries, const Options& opts);
  ~MountMap();
  MountMap(const MountMap&) = delete;
  MountMap& operator=(const MountMap&) = delete;

  const RootDir& root() const { return *root_; }
  const std::string& root_dir() const { return root_dir_; }
  const std::vector<MappedMount>& mounts() const { return info_; }
  // Unmounts in reverse order. With `commit`, changed staged FAT content is
  // written back into its device; without, it is discarded. Idempotent.
  void release(bool commit);

 private:
  MountMap() = default;
  void mount_one(const MountMapEntry& e);

  std::string root_dir_, work_dir_;
  Options opts_;
  std::unique_ptr<RootDir> root_;
  std::vector<MappedMount> info_;
  struct Held {
    std::unique_ptr<FatStage> stage;
    std::unique_ptr<Mount> mount;
  };
  std::vector<Held> held_;  // acquisition order
  bool released_ = false;
};

// Mount-path order: a parent before anything mounted inside it.
bool mount_path_before(const std::string& a, const std::string& b);

}  // namespace imgrecipe
