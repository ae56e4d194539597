#include "host/system/disk_space.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string_view>

#include <fmt/format.h>

namespace imgrecipe::space {
namespace {

constexpr std::string_view kPrefix = "no space left in the ";

std::string& dir_storage() {
  static std::string dir;
  return dir;
}

std::string mib(std::uint64_t bytes) { return fmt::format("{} MiB", bytes / (1024 * 1024)); }

// The existing directory holding `path` (a file that may not exist yet).
std::string existing_dir(const std::string& path) {
  std::filesystem::path p = std::filesystem::absolute(path).lexically_normal();
  std::error_code ec;
  if (!std::filesystem::is_directory(p, ec)) p = p.parent_path();
  while (!p.empty() && p != p.root_path() && !std::filesystem::exists(p, ec)) p = p.parent_path();
  return p.empty() ? "/" : p.string();
}

bool in_build_dir(const std::string& p) {
  const std::string& b = build_dir();
  return !b.empty() && (p == b || p.starts_with(b + "/"));
}

// `e`'s kind and context with `message`.
Error reworded(const Error& e, const std::string& message) {
  Error out(e.kind(), message);
  out.op = e.op;
  out.target = e.target;
  out.sys_errno = e.sys_errno;
  out.argv = e.argv;
  out.exit_code = e.exit_code;
  out.output_tail = e.output_tail;
  return out;
}

bool never_about_space(const Error& e) {
  return std::string_view(e.what()).starts_with(kPrefix) || e.kind() == ErrorKind::Config ||
         e.kind() == ErrorKind::Usage || e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::Unsupported;
}

}  // namespace

void set_build_dir(const std::string& dir) { dir_storage() = dir; }
const std::string& build_dir() { return dir_storage(); }

std::uint64_t free_bytes(const std::string& path) {
  std::string dir = existing_dir(path);
  struct statvfs st;
  if (::statvfs(dir.c_str(), &st) != 0) throw_errno("statvfs", dir);
  return static_cast<std::uint64_t>(st.f_bfree) * st.f_frsize;  // root may use the reserved blocks
}

Error no_space_error(const std::string& path, const std::string& what) {
  std::string dir = existing_dir(path);
  bool build = in_build_dir(dir);
  if (build) dir = build_dir();
  std::uint64_t free = 0;
  try {
    free = free_bytes(dir);
  } catch (const Error&) {
  }
  Error e(ErrorKind::System,
          fmt::format("{}{} {} ({} free): {}", kPrefix, build ? "build directory" : "directory", dir, mib(free), what));
  e.op = "write";
  e.target = dir;
  e.sys_errno = ENOSPC;
  return e;
}

void require_for_copy(const std::string& input, const std::string& raw_out) {
  struct stat st;
  if (::stat(input.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;  // the conversion reports it
  std::uint64_t allocated = static_cast<std::uint64_t>(st.st_blocks) * 512;
  if (free_bytes(raw_out) < allocated)
    throw no_space_error(raw_out, fmt::format("the working copy of {} takes up to {} (the input's allocated size), "
                                              "and the changes come on top", input, mib(allocated)));
}

Error attribute(const Error& e, const std::string& path) {
  if (never_about_space(e)) return e;
  try {
    if (free_bytes(path) >= kLowWater) return e;
  } catch (const Error&) {
    return e;
  }
  return reworded(e, no_space_error(path, e.what()).what());
}

Error explain(const Error& e) {
  const std::string& b = build_dir();
  if (b.empty() || never_about_space(e)) return e;
  // A write into the build directory that ran out of space, although the
  // space is back now (the partial file was removed).
  bool enospc = e.sys_errno == ENOSPC && in_build_dir(e.target);
  if (!enospc && std::any_of(e.argv.begin(), e.argv.end(), in_build_dir)) {
    for (const auto& line : e.output_tail) enospc = enospc || line.find("No space left on device") != std::string::npos;
  }
  if (enospc) return reworded(e, no_space_error(b, e.what()).what());
  return attribute(e, b);
}

}  // namespace imgrecipe::space
