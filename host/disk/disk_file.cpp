#include "host/disk/disk_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe {

std::unique_ptr<DiskFile> DiskFile::create(const std::string& path, std::uint64_t size, bool overwrite) {
  if (size == 0 || size % 512 != 0) {
    throw_usage(fmt::format("disk {}: size {} is not a positive multiple of 512 bytes", path, size));
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!overwrite) throw_usage(fmt::format("disk {}: the file already exists (not overwritten)", path));
    if (!S_ISREG(st.st_mode)) throw_usage(fmt::format("disk {}: exists and is not a regular file", path));
    if (::unlink(path.c_str()) != 0) throw_errno("remove old disk", path);
  } else if (errno != ENOENT) {
    throw_errno("stat", path);
  }
  // O_EXCL: never follows a symlink planted between the check and here.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw_errno("create disk", path);
  std::unique_ptr<DiskFile> disk(new DiskFile(path, size));
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) throw_errno("set disk size", path);
  if (::fsync(fd.get()) != 0) throw_errno("fsync", path);
  return disk;
}

std::unique_ptr<DiskFile> DiskFile::open(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) throw_errno("open disk", path);
  if (!S_ISREG(st.st_mode)) throw_usage(fmt::format("disk {}: not a regular file", path));
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size == 0 || size % 512 != 0) {
    throw_usage(fmt::format("disk {}: size {} is not a positive multiple of 512 bytes", path, size));
  }
  std::unique_ptr<DiskFile> disk(new DiskFile(path, size));
  disk->keep();
  return disk;
}

}  // namespace imgrecipe
