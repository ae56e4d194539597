// Whole-file reads of host files (configs, package lists, sources, key and
// password files). Only regular files are read, and only up to a size limit:
// a FIFO would block and /dev/zero would never end.
#pragma once

#include <cstddef>
#include <string>

#include "host/system/error.hpp"

namespace imgrecipe {

inline constexpr size_t kMaxHostFileBytes = 16u << 20;

// The outcome of reading a host file: the text, or why it could not be read
// (`reason`, and `err` when a system call failed).
struct HostFileRead {
  bool ok = false;
  std::string text;
  std::string reason;
  int err = 0;
};

// Opens `path` without blocking (O_NONBLOCK), refuses anything but a regular
// file and files larger than `max_bytes`, and reads it whole.
HostFileRead try_read_host_file(const std::string& path, size_t max_bytes = kMaxHostFileBytes);

// The content of `path`; a failure throws a System error "<op> <path>: <reason>".
std::string read_host_file(const std::string& path, const std::string& op = "read",
                           size_t max_bytes = kMaxHostFileBytes);

// "4 MiB", "512 KiB", "100 bytes": a size limit for messages.
std::string format_byte_limit(size_t bytes);

}  // namespace imgrecipe
