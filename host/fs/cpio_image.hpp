// A whole directory tree (a mounted OS) as a compressed cpio archive in the
// kernel's initramfs format ("newc", zstd): the `full-os` initramfs of
// LiveOS media, which the kernel unpacks into its in-memory root and runs
// /init of. Written in process (no cpio or shell pipeline), atomically.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace imgrecipe::cpio_image {

struct CreateOptions {
  int level = 3;  // zstd 1..19
  // Paths to leave out, relative to the tree's root (a leading '/' is
  // ignored), shell wildcards matched per component (fnmatch FNM_PATHNAME):
  // "boot/*" keeps /boot as an empty directory.
  std::vector<std::string> exclude;
  // Symbolic links added to the archive when the tree has nothing at that
  // path: {"init", "/lib/systemd/systemd"} (relative path, target).
  std::vector<std::pair<std::string, std::string>> add_symlinks;
  // Every entry's mtime (reproducible output); default: the files' own.
  std::optional<std::int64_t> timestamp;
};

// One newc header for `name` (without the "./" prefix; "." is the root).
std::string newc_header(const std::string& name, std::uint32_t ino, std::uint32_t mode, std::uint32_t uid,
                        std::uint32_t gid, std::uint32_t nlink, std::int64_t mtime, std::uint64_t size,
                        std::uint32_t rdev_major, std::uint32_t rdev_minor);

// True when the relative path `rel` matches one of the exclusion patterns.
bool excluded(const std::string& rel, const std::vector<std::string>& patterns);

struct Stats {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;  // file contents before compression
};

// Writes `out` (a temporary beside it, renamed when complete; nothing left
// on error or interruption). Symbolic links are stored, never followed;
// hard links are kept as links; a file of 4 GiB or more (newc's limit) is
// an error naming it. Extended attributes are not stored (cpio has none).
Stats create(const std::string& source, const std::string& out, const CreateOptions& opts);

}  // namespace imgrecipe::cpio_image
