// An owned file descriptor, closed when it goes out of scope.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "host/system/error.hpp"

namespace imgrecipe {

class UniqueFd {
 public:
  // Takes ownership of `fd`; a negative value (a failed open) owns nothing.
  explicit UniqueFd(int fd = -1) noexcept : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  // Gives up ownership: the caller closes the returned fd.
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// open(2) with O_CLOEXEC added; throws on failure.
inline UniqueFd open_or_throw(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw_errno("open", path);
  return UniqueFd(fd);
}

}  // namespace imgrecipe
