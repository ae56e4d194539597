// Mounts an installed OS from a disk image under one directory: finds the
// root filesystem, reads its /etc/fstab and mounts every listed filesystem in
// order. FAT filesystems are staged through mtools when the kernel cannot
// mount vfat, transparently to callers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "host/disk/partition_probe.hpp"
#include "host/fs/root_dir.hpp"
#include "host/fs/verity_existing.hpp"

namespace imgrecipe {

class LoopDevice;
class Mount;
class FatStage;

struct MountedFs {
  std::string target;  // path inside the image
  std::string source;  // fstab source, or the partition for the root
  int partition = 0;
  std::string fstype;
  bool staged = false;  // FAT content staged through mtools
  std::string device;   // host block device (loop); empty when staged
  std::string options;  // what selects the mounted content (btrfs subvol=), else empty
  bool read_only = false;
  std::string verity;  // dm-verity device name ("root", "usr") when mounted from /dev/mapper/<name>
};

// Checks a filesystem that is not mounted, read-only (e2fsck -fn, xfs_repair
// -n, btrfs check --readonly); throws naming `what` if it is damaged. Other
// types, and a missing checker (warned), pass.
void check_unmounted_filesystem(const std::string& device, const std::string& fstype, const std::string& what);

class OsMount {
 public:
  struct Options {
    bool read_only = false;
    // Force FAT staging even where the kernel could mount vfat (tests).
    bool stage_fat = false;
    // Root partition number; 0 = find it.
    int root_partition = 0;
    // The input image as the user named it: errors about the image's content
    // name it ("input image X: ..."), not the working copy being mounted.
    std::string input_name;
    // dm-verity data partitions of an image that already uses verity are
    // mounted directly, read-only unless this is set (then the caller must
    // make their hash trees again: storage.reinitializeVerity).
    bool verity_writable = false;
  };
  // `root_dir` is created if missing; `work_dir` holds staging directories.
  static std::unique_ptr<OsMount> mount(const std::string& image, const std::string& root_dir,
                                        const std::string& work_dir, const Options& opts);
  ~OsMount();
  OsMount(const OsMount&) = delete;
  OsMount& operator=(const OsMount&) = delete;

  const RootDir& root() const { return *root_; }
  const std::vector<MountedFs>& mounts() const { return info_; }
  const std::vector<DiskPartition>& partitions() const { return parts_; }
  // The image's dm-verity devices (fstab /dev/mapper/<name> sources), from
  // the kernel command line of `cmdline_file`; empty without verity.
  const std::vector<ExistingVerity>& verity() const { return verity_; }
  const std::string& verity_cmdline_file() const { return cmdline_file_; }
  // Unmounts everything in reverse order. With `commit`, staged FAT content
  // is written back into the image and every write is verified: each
  // filesystem is synced and its error state checked before unmounting, its
  // loop device's writes checked and the filesystem checked read-only (fsck)
  // after. Any failure throws after everything is released; without `commit`
  // nothing is written back or checked.
  void release(bool commit);

 private:
  OsMount() = default;
  void mount_all();
  // "input image X" (or the image path): what errors about the content name.
  std::string subject() const;
  [[noreturn]] void fail(const std::string& why) const;
  // "partition 2 (ext4)" / "partition 2 (Linux root (x86-64))".
  static std::string describe(const DiskPartition& p);
  void mount_partition(const DiskPartition& p, const std::string& target, const std::string& fstype,
                       const std::string& options, const std::string& source, bool read_only = false,
                       const std::string& verity = "");
  // Reads the kernel command line from grub.cfg and resolves `names`.
  void find_verity(const std::vector<std::string>& names);

  std::string image_, root_dir_, work_dir_;
  Options opts_;
  std::vector<DiskPartition> parts_;
  std::unique_ptr<RootDir> root_;
  std::vector<MountedFs> info_;
  std::vector<ExistingVerity> verity_;
  std::string cmdline_file_;
  // In acquisition order; released in reverse.
  struct Held {
    std::unique_ptr<LoopDevice> loop;
    std::unique_ptr<Mount> mount;
    std::unique_ptr<FatStage> stage;
  };
  std::vector<Held> held_;
  bool released_ = false;
};

}  // namespace imgrecipe
