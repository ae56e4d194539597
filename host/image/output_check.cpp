#include "host/image/output_check.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "host/image/format.hpp"
#include "host/system/error.hpp"

namespace imgrecipe::image {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void refuse(const std::string& out, const std::string& why) {
  Error e(ErrorKind::Usage, fmt::format("output image {}: {}", out, why));
  e.target = out;
  throw e;
}

std::optional<struct stat> stat_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

// realpath(3) of the parent directory plus the last name: the file a path
// names even when it does not exist yet. Empty if the parent does not exist.
std::string resolved(const fs::path& p) {
  char buf[PATH_MAX];
  fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (::realpath(parent.c_str(), buf) == nullptr) return "";
  return (fs::path(buf) / p.filename()).string();
}

// Creates and removes a file in `dir`: the only sure test that it can be
// written (read-only mounts, immutable directories, permissions, a full
// inode table), whoever we run as.
// `what` says what the failure means ("its directory D is not writable").
void check_writable_dir(const std::string& out, const fs::path& dir, const std::string& what) {
  std::string probe = (dir / ".imgrecipe-write-check-XXXXXX").string();
  int fd = ::mkstemp(probe.data());
  if (fd < 0) refuse(out, fmt::format("{} ({})", what, std::strerror(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace

void check_output(const std::string& out, std::string_view format, const std::vector<std::string>& inputs) {
  constexpr std::string_view kValid = "raw, qcow2, vhd, vhd-fixed, vhdx, cosi, baremetal-image";
  if (format == "iso" || format == "pxe-dir" || format == "pxe-tar")
    refuse(out, fmt::format("the output format '{}' is not supported by imgrecipe (supported: {})", format, kValid));
  bool known = format == "cosi" || format == "baremetal-image";
  if (!known) {
    try {
      parse_format(format);
    } catch (const Error&) {
      refuse(out, fmt::format("unknown output format '{}' (valid: {})", format, kValid));
    }
  }
  if (out.empty()) refuse(out, "the path is empty");
  // write_output writes where the lexically normal absolute path points, the
  // kernel resolves `..` after symlinks: both spellings are checked.
  fs::path target = fs::absolute(out).lexically_normal();
  if (target.filename().empty()) refuse(out, "the path names a directory, not a file");
  for (const std::string& spelling : {out, target.string()}) {
    auto o = stat_of(spelling);
    if (!o) continue;
    if (S_ISDIR(o->st_mode)) refuse(out, "it is a directory");
    for (const auto& in : inputs) {
      auto i = stat_of(in);
      if (i && i->st_dev == o->st_dev && i->st_ino == o->st_ino)
        refuse(out, fmt::format("it is the input image {} (the same file); the input is never written: choose "
                                "another output path",
                                in));
    }
  }
  for (const auto& in : inputs) {
    std::string a = resolved(target), b = resolved(fs::absolute(in).lexically_normal());
    if (!a.empty() && a == b)
      refuse(out, fmt::format("it is the input image {}; the input is never written: choose another output path",
                              in));
  }

  fs::path dir = target.parent_path();
  auto d = stat_of(dir.string());
  if (d) {
    if (!S_ISDIR(d->st_mode)) refuse(out, fmt::format("{} is not a directory", dir.string()));
    check_writable_dir(out, dir, fmt::format("its directory {} is not writable", dir.string()));
    return;
  }
  // The missing directories are created when the output is written: the
  // nearest existing ancestor must be a directory we can create them in.
  fs::path up = dir;
  while (up.has_parent_path() && up != up.parent_path() && !stat_of(up.string())) up = up.parent_path();
  auto a = stat_of(up.string());
  if (!a || !S_ISDIR(a->st_mode))
    refuse(out, fmt::format("its directory {} cannot be created: {} is not a directory", dir.string(),
                            up.string()));
  check_writable_dir(out, up,
                     fmt::format("its directory {} cannot be created: {} is not writable", dir.string(), up.string()));
}

}  // namespace imgrecipe::image
