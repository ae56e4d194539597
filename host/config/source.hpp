// Reading config files from disk, with the error messages every loader shares.
#pragma once

#include <cstddef>
#include <string>

namespace imgrecipe::config {

// Configs and package lists are small; the limit keeps a wrong path (a disk
// image, /dev/zero) from being read into memory.
inline constexpr size_t kMaxConfigBytes = 4u << 20;

// The whole file; throws Error(ErrorKind::Config) "<path>: cannot read <what>: <reason>".
// Only regular files up to kMaxConfigBytes are read; a FIFO never blocks.
std::string read_config_text(const std::string& path, const std::string& what);

}  // namespace imgrecipe::config
