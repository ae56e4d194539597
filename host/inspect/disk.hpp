// A disk image's partition table and filesystems for inspect (type, label,
// UUID, size, used), and the OS view assembled from them: the filesystem
// holding /etc/os-release as the root, the others at their fstab mount
// points, the ESP at /boot/efi when fstab does not place it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/disk/partition_table.hpp"
#include "host/inspect/tree.hpp"

namespace imgrecipe::inspect {

struct FsEntry {
  int partition = 0;  // 0: the whole disk (no partition table) or a squashfs file
  std::string type, label, uuid;
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> size, used;  // bytes, when the filesystem tells
  std::string mount_point;                  // in the OS ("/", "/boot/efi"); "" not mounted
  std::string note;                         // why its files were not read
};

struct DiskInfo {
  std::optional<PartitionTable> table;
  std::vector<FsEntry> filesystems;
};

DiskInfo read_disk(const std::string& disk);

// The OS of `disk`: opens a tree per readable filesystem (kept in `trees`),
// fills mount_point and note of `info.filesystems`, mounts them into `view`.
// Nothing is mounted when no filesystem holds an OS. With `mount_dir` (root,
// in a private mount namespace), xfs and btrfs are mounted read-only in new
// directories below it; without, they are listed with a note.
void assemble(const std::string& disk, DiskInfo& info, std::vector<std::unique_ptr<Tree>>& trees, View& view,
              std::vector<std::string>& notes, const std::string& mount_dir = "");

}  // namespace imgrecipe::inspect
