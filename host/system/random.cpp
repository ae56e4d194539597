#include "host/system/random.hpp"

#include <sys/random.h>

#include <cerrno>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe {

std::string random_uuid() {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("getrandom", "image uuid");
    }
    got += static_cast<size_t>(n);
  }
  std::string hex;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) hex += '-';
    hex += fmt::format("{:02x}", b[i]);
  }
  return hex;
}

}  // namespace imgrecipe
