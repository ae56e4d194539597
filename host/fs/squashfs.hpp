// squashfs images of a directory tree (a mounted OS, a staging directory)
// and reading them back, with squashfs-tools only: no kernel squashfs mount.
// The command lines are pure functions (tested without running anything).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace imgrecipe::squashfs {

struct CreateOptions {
  std::string compression = "zstd";  // gzip, lzo, lz4, xz, zstd
  int level = 0;                     // 0: the compressor's default (zstd 15)
  std::uint32_t block_size = 0;      // bytes, power of two 4 KiB..1 MiB; 0: mksquashfs's default (128 KiB)
  bool xattrs = true;                // security.*, user.*, trusted.* kept
  // Paths to leave out, relative to the tree's root (a leading '/' is
  // ignored), with shell wildcards (* ? [..]); "proc/*" keeps the
  // directory and leaves out what is in it.
  std::vector<std::string> exclude;
  // Reproducible output: every inode time and the filesystem time set to
  // this (seconds since the epoch).
  std::optional<std::int64_t> timestamp;
  int processors = 0;             // 0: all
  bool one_file_system = false;   // do not descend into mounts below the root
  bool all_root = false;          // every file owned by root
  bool durable = true;            // false: not fsynced (an intermediate a later step reads back)
};

// mksquashfs's arguments for `source` → `out` (usage errors for bad options).
std::vector<std::string> create_command(const std::string& source, const std::string& out, const CreateOptions& opts);
// The exclusions as mksquashfs matches them: relative to the root; usage
// error for one that is empty or has a newline.
std::vector<std::string> exclude_patterns(const std::vector<std::string>& patterns);

// Makes `out` from the directory `source` (atomically: a temporary beside
// `out`, renamed when complete; nothing left on error or interruption).
void create(const std::string& source, const std::string& out, const CreateOptions& opts);

struct Entry {
  std::string path;   // "/" for the root, "/etc/hostname"
  char type = '?';    // '-' file, 'd' directory, 'l' symlink, 'c', 'b', 'p', 's'
  std::uint32_t mode = 0;  // permission bits (07777)
  std::uint32_t uid = 0, gid = 0;
  std::uint64_t size = 0;  // files and symlinks; 0 for devices
  std::string link_target;
  std::string mtime;  // "YYYY-MM-DD HH:MM" (UTC)
};

// Parses `unsquashfs -lln -d ""` output. Names containing a newline or, for
// symbolic links, " -> " cannot be told apart (unsquashfs prints them raw).
std::vector<Entry> parse_listing(const std::string& text);

std::vector<Entry> list(const std::string& image);

struct ExtractOptions {
  bool xattrs = true;
  int processors = 0;
  // Only these paths (files or whole directories) of the image; each must exist.
  std::vector<std::string> paths;
};

// unsquashfs's arguments to extract `image` into `dest`.
std::vector<std::string> extract_command(const std::string& image, const std::string& dest, const ExtractOptions& opts);

// Extracts into `dest`, which must not exist (created; removed again on error).
void extract(const std::string& image, const std::string& dest, const ExtractOptions& opts);

}  // namespace imgrecipe::squashfs
