#include "host/config/source.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe::config {

std::string read_config_text(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    Error e(ErrorKind::Config, fmt::format("{}: cannot read {}: is a directory", path, what));
    e.target = path;
    throw e;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    Error e(ErrorKind::Config, fmt::format("{}: cannot read {}: {}", path, what, std::strerror(err)));
    e.target = path;
    e.sys_errno = err;
    throw e;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace imgrecipe::config
