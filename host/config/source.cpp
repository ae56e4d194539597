#include "host/config/source.hpp"

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/host_file.hpp"

namespace imgrecipe::config {

std::string read_config_text(const std::string& path, const std::string& what) {
  HostFileRead r = try_read_host_file(path, kMaxConfigBytes);
  if (!r.ok) {
    Error e(ErrorKind::Config, fmt::format("{}: cannot read {}: {}", path, what, r.reason));
    e.target = path;
    e.sys_errno = r.err;
    throw e;
  }
  return std::move(r.text);
}

}  // namespace imgrecipe::config
