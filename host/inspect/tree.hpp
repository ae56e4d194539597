// Read-only views of a filesystem's files without mounting it (inspect):
// ext2/3/4 through debugfs, FAT through mtools, squashfs through
// unsquashfs, and the OS as the root filesystem with the others at their
// fstab mount points (View), symlinks resolved inside the view.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace imgrecipe::inspect {

struct Stat {
  enum class Kind { None, File, Dir, Link, Other } kind = Kind::None;
  std::string target;  // Link
  std::uint64_t size = 0;
};

// One filesystem; paths are absolute within it and already free of symlinks
// (View resolves them).
class Tree {
 public:
  virtual ~Tree() = default;
  virtual Stat lstat(const std::string& path) = 0;
  // A regular file's content; nothing if it cannot be read.
  virtual std::optional<std::string> read(const std::string& path) = 0;
  // The names in a directory (no "." and "..").
  virtual std::vector<std::string> list(const std::string& dir) = 0;
};

// debugfs on `image` at byte `offset` (opened read-only; the journal is not replayed).
std::unique_ptr<Tree> ext_tree(const std::string& image, std::uint64_t offset);
// mtools on `image` at byte `offset`; names match case-insensitively.
std::unique_ptr<Tree> fat_tree(const std::string& image, std::uint64_t offset);
// unsquashfs on the squashfs file `image` (its listing read once).
std::unique_ptr<Tree> squashfs_tree(const std::string& image);
// A read-only loop device over [offset, offset+size) of `image` (size 0: to
// the end), mounted read-only without log replay at the new directory `dir`
// (xfs, btrfs). Needs root and a private mount namespace.
std::unique_ptr<Tree> mounted_tree(const std::string& image, std::uint64_t offset, std::uint64_t size,
                                   const std::string& fstype, const std::string& dir);

// Trees at mount points; paths resolved with symlinks followed inside the
// view (an absolute target is relative to the view's root), at most 40 links.
class View {
 public:
  void mount(const std::string& mount_point, Tree* tree);
  bool empty() const { return mounts_.empty(); }
  // The path with every symlink resolved; nothing if some part is missing.
  std::optional<std::string> resolve(const std::string& path);
  Stat stat(const std::string& path);  // follows symlinks
  std::optional<std::string> read(const std::string& path);
  std::vector<std::string> list(const std::string& dir);

 private:
  std::pair<Tree*, std::string> locate(const std::string& path);
  std::vector<std::pair<std::string, Tree*>> mounts_;  // longest mount point first
};

}  // namespace imgrecipe::inspect
