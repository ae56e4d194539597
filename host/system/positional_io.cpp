#include "host/system/positional_io.hpp"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe {
namespace {

[[noreturn]] void fail(const char* op, const std::string& path, const std::string& why) {
  Error e(ErrorKind::System, fmt::format("{} {}: {}", op, path, why));
  e.op = op;
  e.target = path;
  throw e;
}

}  // namespace

std::size_t read_some_at(int fd, void* buf, std::size_t n, std::uint64_t offset, const std::string& path,
                         const char* op) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, static_cast<char*>(buf) + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno(op, path);
    }
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return done;
}

void read_full_at(int fd, void* buf, std::size_t n, std::uint64_t offset, const std::string& path,
                  const char* op) {
  std::size_t got = read_some_at(fd, buf, n, offset, path, op);
  if (got < n) fail(op, path, fmt::format("unexpected end of file at {}", offset + got));
}

void write_full_at(int fd, const void* buf, std::size_t n, std::uint64_t offset, const std::string& path,
                   const char* op) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t w = ::pwrite(fd, static_cast<const char*>(buf) + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno(op, path);
    }
    // Not expected for n > 0; looping on it would never end.
    if (w == 0) fail(op, path, fmt::format("nothing written at {}", offset + done));
    done += static_cast<std::size_t>(w);
  }
}

}  // namespace imgrecipe
