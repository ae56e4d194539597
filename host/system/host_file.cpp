#include "host/system/host_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "host/system/unique_fd.hpp"

namespace imgrecipe {
namespace {

const char* file_type(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

HostFileRead failure(std::string reason, int err = 0) {
  HostFileRead r;
  r.reason = std::move(reason);
  r.err = err;
  return r;
}

}  // namespace

std::string format_byte_limit(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= 1024 && bytes % 1024 == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} bytes", bytes);
}

HostFileRead try_read_host_file(const std::string& path, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    return failure(std::strerror(err), err);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    int err = errno;
    return failure(std::strerror(err), err);
  }
  if (!S_ISREG(st.st_mode)) return failure(fmt::format("{} is not a regular file ({})", path, file_type(st.st_mode)));
  auto too_large = [&] {
    return failure(fmt::format("{} is larger than the limit of {}", path, format_byte_limit(max_bytes)));
  };
  if (static_cast<unsigned long long>(st.st_size) > max_bytes) return too_large();
  HostFileRead r;
  r.text.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  // Read to the end, not to st_size: the file may change while it is read,
  // but never past the limit.
  for (;;) {
    if (got == r.text.size()) {
      if (r.text.size() > max_bytes) return too_large();
      r.text.resize(std::min(max_bytes + 1, std::max<size_t>(r.text.size() * 2, 4096)));
    }
    ssize_t n = ::read(fd.get(), r.text.data() + got, r.text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      return failure(std::strerror(err), err);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > max_bytes) return too_large();
  r.text.resize(got);
  r.ok = true;
  return r;
}

std::string read_host_file(const std::string& path, const std::string& op, size_t max_bytes) {
  HostFileRead r = try_read_host_file(path, max_bytes);
  if (!r.ok) {
    Error e(ErrorKind::System, fmt::format("{} {}: {}", op, path, r.reason));
    e.op = op;
    e.target = path;
    e.sys_errno = r.err;
    throw e;
  }
  return std::move(r.text);
}

}  // namespace imgrecipe
