// A FAT filesystem image file made from a directory tree, without mounting
// anything (mkfs.fat with the pinned geometry of host/fs/mkfs, then mcopy):
// the El Torito UEFI boot image of an ISO, an ESP to write into a disk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace imgrecipe {

struct FatImageOptions {
  std::string label;            // <= 11 characters; "" none
  std::string volume_id;        // "ABCD-1234"; "" random
  std::uint64_t size = 0;       // bytes, a multiple of 512; 0: the tree's size plus room for the FAT
  std::uint64_t free_space = 0; // with size 0: extra free bytes on top
  // Directory entry times of new directories (SOURCE_DATE_EPOCH for mtools);
  // files keep their modification times.
  std::optional<std::int64_t> timestamp;
};

// The size chosen for a tree of `tree_bytes` (files rounded up to 4 KiB,
// 4 KiB per directory) plus `free_space`: 1/32 more for the FATs and
// rounding, at least 2 MiB, rounded up to whole MiB.
std::uint64_t fat_image_size(std::uint64_t tree_bytes, std::uint64_t free_space);
// `tree_bytes` of fat_image_size for the directory `source`.
std::uint64_t fat_tree_bytes(const std::string& source);

// Makes the FAT image `out` (atomically) holding the tree `source`: files
// and directories with their modification times. Fails naming the path
// when the tree holds what FAT cannot store (check_fat_storable) or does
// not fit in opts.size. Checked with fsck.fat before it is renamed into place.
void make_fat_image(const std::string& source, const std::string& out, const FatImageOptions& opts);

}  // namespace imgrecipe
