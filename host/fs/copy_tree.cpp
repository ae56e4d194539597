#include "host/fs/copy_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/unique_fd.hpp"
#include "host/system/signals.hpp"

namespace imgrecipe {
namespace {

std::string child(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// stat of an image path, symlinks followed inside the root; nullopt if missing.
std::optional<struct stat> stat_in_image(const RootDir& root, const std::string& path) {
  UniqueFd fd(root.open_fd(path, O_PATH));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("open in image", path);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) throw_errno("stat in image", path);
  return st;
}

void create_dir(const RootDir& root, const std::string& path, mode_t mode) {
  fault::point("create directory in image", path);
  size_t slash = path.rfind('/');
  std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  std::string leaf = path.substr(slash + 1);
  UniqueFd dir(root.open_fd(parent, O_PATH | O_DIRECTORY));
  if (dir.get() < 0) throw_errno("open directory in image", parent);
  if (mkdirat(dir.get(), leaf.c_str(), mode) != 0) throw_errno("create directory in image", path);
  // mkdir's mode is filtered by the umask; set it exactly.
  UniqueFd made(openat(dir.get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (made.get() < 0 || fchmod(made.get(), mode) != 0) throw_errno("chmod in image", path);
}

// `path` ends up a directory: created with the new-directory mode, or, if it
// exists, given the merged-directory mode (when set).
void ensure_dir(const RootDir& root, const std::string& path, const CopyTreeOptions& opts, CopyTreeStats& stats) {
  auto st = stat_in_image(root, path);
  if (!st) {
    create_dir(root, path, opts.new_dir_mode);
    ++stats.dirs_created;
    return;
  }
  if (!S_ISDIR(st->st_mode)) {
    throw Error(ErrorKind::Usage, fmt::format("destination '{}' exists in the image but is not a directory", path));
  }
  if (opts.merged_dir_mode) root.chmod(path, *opts.merged_dir_mode);
  ++stats.dirs_merged;
}

std::vector<std::string> sorted_entries(int dirfd, const std::string& host_dir) {
  int dup_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) throw_errno("read directory", host_dir);
  DIR* d = fdopendir(dup_fd);
  if (d == nullptr) {
    ::close(dup_fd);
    throw_errno("read directory", host_dir);
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
    errno = 0;
  }
  int err = errno;
  closedir(d);
  if (err != 0) throw_system("read directory", host_dir, err);
  std::sort(names.begin(), names.end());
  return names;
}

void copy_one_file(const RootDir& root, int src_dirfd, const std::string& name, const std::string& src_path,
                   const std::string& dest, mode_t mode) {
  fault::point("copy file into image", dest);
  UniqueFd src(openat(src_dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (src.get() < 0) throw_errno("open source file", src_path);
  struct stat st;
  if (fstat(src.get(), &st) != 0) throw_errno("stat", src_path);
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorKind::Usage, fmt::format("source '{}' is not a regular file or directory", src_path));
  }
  UniqueFd dst(root.open_fd(dest, O_WRONLY | O_CREAT | O_TRUNC, mode));
  if (dst.get() < 0) throw_errno("write file in image", dest);
  if (fchmod(dst.get(), mode) != 0) throw_errno("chmod in image", dest);
  copy_file_sparse(src.get(), dst.get(), st.st_size, fmt::format("{} -> {}", src_path, dest));
}

void copy_dir(const RootDir& root, int src_dirfd, const std::string& src_path, const std::string& dest,
              const CopyTreeOptions& opts, CopyTreeStats& stats) {
  for (const auto& name : sorted_entries(src_dirfd, src_path)) {
    signals::check();
    std::string s = src_path + "/" + name;
    std::string d = child(dest, name);
    struct stat lst;
    if (fstatat(src_dirfd, name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("stat", s);
    if (S_ISDIR(lst.st_mode)) {
      ensure_dir(root, d, opts, stats);
      UniqueFd sub(openat(src_dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub.get() < 0) throw_errno("open source directory", s);
      copy_dir(root, sub.get(), s, d, opts, stats);
    } else {
      copy_one_file(root, src_dirfd, name, s, d, opts.file_mode);
      ++stats.files;
    }
  }
}

constexpr const char* kCopyOp = "copy file into image";

// Copies [off, off + len) at the same offset, with copy_file_range where the
// filesystems allow it.
void copy_range(int src, int dst, off_t off, off_t len, bool& plain, const std::string& what) {
  std::vector<char> buf;
  while (len > 0) {
    ssize_t n;
    if (!plain) {
      off_t in = off, out = off;
      n = copy_file_range(src, &in, dst, &out, static_cast<size_t>(len), 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        plain = true;
        continue;
      }
    } else {
      if (buf.empty()) buf.resize(1 << 20);
      const std::size_t k = std::min<size_t>(buf.size(), static_cast<size_t>(len));
      const std::size_t got = read_some_at(src, buf.data(), k, static_cast<std::uint64_t>(off), what, kCopyOp);
      write_full_at(dst, buf.data(), got, static_cast<std::uint64_t>(off), what, kCopyOp);
      n = static_cast<ssize_t>(got);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(kCopyOp, what);
    }
    if (n == 0) throw Error(ErrorKind::System, fmt::format("{} {}: source shrank while copying", kCopyOp, what));
    off += n;
    len -= n;
  }
}

}  // namespace

void copy_file_sparse(int src, int dst, off_t size, const std::string& what) {
  bool plain = false;
  off_t pos = 0;
  while (pos < size) {
    off_t data = lseek(src, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      if (errno != EINVAL && errno != EOPNOTSUPP) throw_errno("seek in source file", what);
      data = pos;  // no hole support: copy everything
    }
    if (data >= size) break;
    off_t hole = lseek(src, data, SEEK_HOLE);
    if (hole < 0 || hole > size) hole = size;
    copy_range(src, dst, data, hole - data, plain, what);
    pos = hole;
  }
  if (ftruncate(dst, size) != 0) throw_errno("set file size in image", what);
}

CopyTreeStats copy_tree(const RootDir& root, const std::string& host_source, std::string_view image_dest,
                        const CopyTreeOptions& opts) {
  UniqueFd src(::open(host_source.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (src.get() < 0) throw_errno("open source directory", host_source);
  CopyTreeStats stats;
  std::string dest = image_path(image_dest);
  if (dest == "/") {
    ensure_dir(root, dest, opts, stats);
  } else {
    // Missing parents are created with the new-directory mode too (ALIC's MkdirAll).
    std::string prefix;
    size_t pos = 1;
    while (pos <= dest.size()) {
      size_t end = dest.find('/', pos);
      if (end == std::string::npos) end = dest.size();
      prefix = dest.substr(0, end);
      bool last = end == dest.size();
      if (last) {
        ensure_dir(root, prefix, opts, stats);
      } else if (auto st = stat_in_image(root, prefix); !st) {
        create_dir(root, prefix, opts.new_dir_mode);
        ++stats.dirs_created;
      } else if (!S_ISDIR(st->st_mode)) {
        throw Error(ErrorKind::Usage, fmt::format("'{}' exists in the image but is not a directory", prefix));
      }
      pos = end + 1;
    }
  }
  copy_dir(root, src.get(), host_source, dest, opts, stats);
  return stats;
}

}  // namespace imgrecipe
