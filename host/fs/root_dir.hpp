// File operations inside an image root. Every path is an absolute path inside
// the image; symlinks are resolved inside the root (openat2 RESOLVE_IN_ROOT),
// so a link in the image such as /etc/x -> /tmp can never reach the host.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imgrecipe {

class RootDir {
 public:
  explicit RootDir(std::string host_path);
  ~RootDir();
  RootDir(const RootDir&) = delete;
  RootDir& operator=(const RootDir&) = delete;

  const std::string& path() const { return path_; }

  // Host path of an existing entry, symlinks resolved inside the root. With
  // `create_dirs`, missing directories are created (mode 0755) first.
  std::string resolve(std::string_view path, bool create_dirs = false) const;
  // Host path for a new entry: the parent resolved inside the root, the leaf
  // name appended as is (not followed).
  std::string resolve_parent(std::string_view path, bool create_dirs) const;

  bool exists(std::string_view path) const;
  // lstat of the leaf (not followed); nullopt if missing.
  std::optional<struct stat> lstat(std::string_view path) const;
  std::optional<std::string> read_file(std::string_view path) const;
  std::optional<std::string> read_link(std::string_view path) const;
  // Names in a directory (no "." or ".."), unsorted; nullopt if missing.
  std::optional<std::vector<std::string>> list_dir(std::string_view path) const;

  // mkdir -p; existing directories keep their mode.
  void mkdirs(std::string_view path, mode_t mode = 0755) const;
  // Writes the whole file (created or truncated). Parents are created 0755.
  // `mode` unset: new files get 0644, existing ones keep their mode.
  void write_file(std::string_view path, std::string_view content, std::optional<mode_t> mode = {}) const;
  // Copies a host file into the image. `mode` unset: the source's mode.
  void copy_from_host(const std::string& host_source, std::string_view path, std::optional<mode_t> mode = {}) const;
  void chmod(std::string_view path, mode_t mode) const;
  void chown(std::string_view path, uid_t uid, gid_t gid) const;
  void symlink(const std::string& target, std::string_view path) const;
  // Removes a file, symlink or empty directory; missing is not an error.
  void remove(std::string_view path) const;
  // Renames within the image (both leaves not followed).
  void rename(std::string_view from, std::string_view to) const;
  // open(2) of `path` with symlinks resolved inside the root; -1 with errno
  // set on failure. The caller owns the fd.
  int open_fd(std::string_view path, int flags, mode_t mode = 0) const { return open_in_root(path, flags, mode); }

 private:
  // fd (O_PATH) of the directory containing the leaf; leaf name returned.
  int open_parent(std::string_view path, bool create_dirs, std::string& leaf) const;
  int open_in_root(std::string_view path, int flags, mode_t mode) const;
  std::string path_;
  int fd_ = -1;
};

// Normalises an image path: must be absolute; "." and empty parts removed.
// ".." is kept for the kernel to resolve inside the root.
std::string image_path(std::string_view path);

}  // namespace imgrecipe
