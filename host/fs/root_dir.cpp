#include "host/fs/root_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "host/fs/copy_tree.hpp"
#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe {
namespace {

constexpr unsigned long long kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

int sys_openat2(int dirfd, const char* path, int flags, mode_t mode, unsigned long long resolve) {
  open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = static_cast<unsigned long long>(flags);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = resolve;
  for (;;) {
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) return static_cast<int>(fd);
  }
}

std::string fd_path(int fd) {
  char buf[PATH_MAX];
  std::string link = fmt::format("/proc/self/fd/{}", fd);
  ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
  if (n < 0) throw_errno("readlink", link);
  return std::string(buf, static_cast<size_t>(n));
}

std::vector<std::string> split(std::string_view p) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i, j - i);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    i = j + 1;
  }
  return parts;
}

}  // namespace

std::string image_path(std::string_view path) {
  if (path.empty() || path[0] != '/') {
    throw Error(ErrorKind::Usage, fmt::format("path '{}' must be absolute (a path inside the image)", path));
  }
  std::string out;
  for (const auto& part : split(path)) out += "/" + part;
  return out.empty() ? "/" : out;
}

RootDir::RootDir(std::string host_path) : path_(std::move(host_path)) {
  fd_ = ::open(path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) throw_errno("open image root", path_);
}

RootDir::~RootDir() {
  if (fd_ >= 0) ::close(fd_);
}

int RootDir::open_in_root(std::string_view path, int flags, mode_t mode) const {
  std::string rel = image_path(path).substr(1);
  if (rel.empty()) rel = ".";
  return sys_openat2(fd_, rel.c_str(), flags | O_CLOEXEC, mode, kResolve);
}

int RootDir::open_parent(std::string_view path, bool create_dirs, std::string& leaf) const {
  auto parts = split(image_path(path));
  if (parts.empty()) throw Error(ErrorKind::Usage, "the image root itself cannot be used here");
  leaf = parts.back();
  if (leaf == "..") throw Error(ErrorKind::Usage, fmt::format("path '{}' must not end in '..'", path));
  parts.pop_back();
  std::string dir = "/";
  for (const auto& p : parts) dir += p + "/";
  if (create_dirs) mkdirs(dir);
  int fd = open_in_root(dir, O_PATH | O_DIRECTORY, 0);
  if (fd < 0) throw_errno("open directory in image", dir);
  return fd;
}

std::string RootDir::resolve(std::string_view path, bool create_dirs) const {
  if (create_dirs) mkdirs(path);
  UniqueFd fd(open_in_root(path, O_PATH, 0));
  if (fd.get() < 0) throw_errno("resolve path in image", std::string(path));
  return fd_path(fd.get());
}

std::string RootDir::resolve_parent(std::string_view path, bool create_dirs) const {
  std::string leaf;
  UniqueFd dir(open_parent(path, create_dirs, leaf));
  return fd_path(dir.get()) + "/" + leaf;
}

bool RootDir::exists(std::string_view path) const { return lstat(path).has_value(); }

std::optional<struct stat> RootDir::lstat(std::string_view path) const {
  std::string leaf;
  int dfd;
  try {
    dfd = open_parent(path, false, leaf);
  } catch (const Error& e) {
    if (e.sys_errno == ENOENT || e.sys_errno == ENOTDIR) return std::nullopt;
    throw;
  }
  UniqueFd dir(dfd);
  struct stat st;
  if (fstatat(dir.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("stat in image", std::string(path));
  }
  return st;
}

std::optional<std::string> RootDir::read_file(std::string_view path) const {
  UniqueFd fd(open_in_root(path, O_RDONLY, 0));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("open in image", std::string(path));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read in image", std::string(path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::optional<std::string> RootDir::read_link(std::string_view path) const {
  std::string leaf;
  UniqueFd dir(open_parent(path, false, leaf));
  char buf[PATH_MAX];
  ssize_t n = readlinkat(dir.get(), leaf.c_str(), buf, sizeof buf - 1);
  if (n < 0) {
    if (errno == EINVAL || errno == ENOENT) return std::nullopt;
    throw_errno("readlink in image", std::string(path));
  }
  return std::string(buf, static_cast<size_t>(n));
}

std::optional<std::vector<std::string>> RootDir::list_dir(std::string_view path) const {
  int fd = open_in_root(path, O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("open directory in image", std::string(path));
  }
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    int e = errno;
    ::close(fd);
    errno = e;
    throw_errno("read directory in image", std::string(path));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  }
  closedir(d);
  return names;
}

void RootDir::mkdirs(std::string_view path, mode_t mode) const {
  fault::point("create directory in image", path);
  auto parts = split(image_path(path));
  std::string current = "/";
  for (const auto& part : parts) {
    UniqueFd dir(open_in_root(current, O_PATH | O_DIRECTORY, 0));
    if (dir.get() < 0) throw_errno("open directory in image", current);
    if (mkdirat(dir.get(), part.c_str(), mode) != 0 && errno != EEXIST) {
      throw_errno("create directory in image", current + part);
    }
    current += part + "/";
  }
  // The last component may be a symlink to a directory; it must end as one.
  UniqueFd check(open_in_root(current, O_PATH | O_DIRECTORY, 0));
  if (check.get() < 0) throw_errno("create directory in image", std::string(path));
}

void RootDir::write_file(std::string_view path, std::string_view content, std::optional<mode_t> mode) const {
  fault::point("write file in image", path);
  std::string leaf;
  UniqueFd parent(open_parent(path, true, leaf));
  (void)parent;
  // Open through the root again so a symlink leaf resolves inside the image.
  UniqueFd fd(open_in_root(path, O_WRONLY | O_CREAT | O_TRUNC, mode.value_or(0644)));
  if (fd.get() < 0) throw_errno("write file in image", std::string(path));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write file in image", std::string(path));
    }
    off += static_cast<size_t>(n);
  }
  if (mode && fchmod(fd.get(), *mode) != 0) throw_errno("chmod in image", std::string(path));
}

void RootDir::copy_from_host(const std::string& host_source, std::string_view path, std::optional<mode_t> mode) const {
  fault::point("copy file into image", path);
  UniqueFd src(::open(host_source.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (src.get() < 0) throw_errno("open source file", host_source);
  struct stat st;
  if (fstat(src.get(), &st) != 0) throw_errno("stat", host_source);
  if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::Usage, fmt::format("source '{}' is not a regular file", host_source));
  mode_t m = mode.value_or(st.st_mode & 07777);
  std::string leaf;
  UniqueFd parent(open_parent(path, true, leaf));
  (void)parent;
  UniqueFd dst(open_in_root(path, O_WRONLY | O_CREAT | O_TRUNC, m));
  if (dst.get() < 0) throw_errno("write file in image", std::string(path));
  copy_file_sparse(src.get(), dst.get(), st.st_size, fmt::format("{} -> {}", host_source, path));
  if (fchmod(dst.get(), m) != 0) throw_errno("chmod in image", std::string(path));
}

void RootDir::chmod(std::string_view path, mode_t mode) const {
  fault::point("chmod in image", path);
  UniqueFd fd(open_in_root(path, O_PATH, 0));
  if (fd.get() < 0) throw_errno("open in image", std::string(path));
  // fchmod does not work on O_PATH fds; go through the fd's /proc entry.
  if (fchmodat(AT_FDCWD, fmt::format("/proc/self/fd/{}", fd.get()).c_str(), mode, 0) != 0) {
    throw_errno("chmod in image", std::string(path));
  }
}

void RootDir::chown(std::string_view path, uid_t uid, gid_t gid) const {
  fault::point("chown in image", path);
  UniqueFd fd(open_in_root(path, O_PATH, 0));
  if (fd.get() < 0) throw_errno("open in image", std::string(path));
  if (fchownat(fd.get(), "", uid, gid, AT_EMPTY_PATH) != 0) throw_errno("chown in image", std::string(path));
}

void RootDir::symlink(const std::string& target, std::string_view path) const {
  fault::point("create symlink in image", path);
  std::string leaf;
  UniqueFd dir(open_parent(path, true, leaf));
  if (symlinkat(target.c_str(), dir.get(), leaf.c_str()) != 0) throw_errno("create symlink in image", std::string(path));
}

void RootDir::remove(std::string_view path) const {
  fault::point("remove in image", path);
  std::string leaf;
  int dfd;
  try {
    dfd = open_parent(path, false, leaf);
  } catch (const Error& e) {
    if (e.sys_errno == ENOENT) return;
    throw;
  }
  UniqueFd dir(dfd);
  if (unlinkat(dir.get(), leaf.c_str(), 0) == 0 || errno == ENOENT) return;
  if (errno == EISDIR && unlinkat(dir.get(), leaf.c_str(), AT_REMOVEDIR) == 0) return;
  throw_errno("remove in image", std::string(path));
}

void RootDir::rename(std::string_view from, std::string_view to) const {
  fault::point("rename in image", from);
  std::string from_leaf, to_leaf;
  UniqueFd a(open_parent(from, false, from_leaf));
  UniqueFd b(open_parent(to, true, to_leaf));
  if (renameat(a.get(), from_leaf.c_str(), b.get(), to_leaf.c_str()) != 0) {
    throw_errno("rename in image", fmt::format("{} -> {}", from, to));
  }
}

}  // namespace imgrecipe
