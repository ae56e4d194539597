#include "host/system/error.hpp"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace imgrecipe {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Usage: return "usage";
    case ErrorKind::Config: return "config";
    case ErrorKind::System: return "system";
    case ErrorKind::Command: return "command";
    case ErrorKind::Interrupted: return "interrupted";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Recipe: return "recipe";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

void throw_system(const std::string& op, const std::string& target, int err) {
  Error e(ErrorKind::System, fmt::format("{} {}: {}", op, target, std::strerror(err)));
  e.op = op;
  e.target = target;
  e.sys_errno = err;
  throw e;
}

void throw_errno(const std::string& op, const std::string& target) { throw_system(op, target, errno); }

void throw_usage(const std::string& message) { throw Error(ErrorKind::Usage, message); }

void throw_unsupported(const std::string& what) {
  throw Error(ErrorKind::Unsupported, fmt::format("not supported yet: {}", what));
}

std::string describe(const Error& e) {
  std::string out = e.what();
  if (e.kind() == ErrorKind::Command && !e.output_tail.empty()) {
    out += "\n  last lines of output:";
    for (const auto& line : e.output_tail) out += "\n    | " + line;
  }
  return out;
}

}  // namespace imgrecipe
