#include "host/fs/os_copy.hpp"

#include <libmount/libmount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "host/system/process.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"

namespace imgrecipe {
namespace {

std::string real_dir(const std::string& path, const char* what) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) throw_errno(fmt::format("resolve the {} root", what), path);
  struct stat st;
  if (::stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
    throw Error(ErrorKind::Usage, fmt::format("copy OS tree: the {} root {} is not a directory", what, path));
  return buf;
}

bool inside(const std::string& path, const std::string& dir) {
  return path == dir || dir == "/" || path.starts_with(dir + "/");
}

// Kernel filesystems whose content belongs to the host, never to an image.
const std::set<std::string> kKernelFs = {"proc",     "sysfs",    "devtmpfs", "devpts",    "cgroup",  "cgroup2",
                                         "securityfs", "debugfs", "tracefs", "mqueue",    "pstore",  "bpf",
                                         "efivarfs", "fusectl",  "configfs", "hugetlbfs", "binfmt_misc"};

void refuse_kernel_mounts(const std::string& source) {
  std::unique_ptr<libmnt_table, void (*)(libmnt_table*)> tb(mnt_new_table_from_file("/proc/self/mountinfo"),
                                                            mnt_unref_table);
  if (!tb) throw_errno("read", "/proc/self/mountinfo");
  libmnt_iter* it = mnt_new_iter(MNT_ITER_FORWARD);
  libmnt_fs* fs = nullptr;
  std::string found, fstype;
  while (found.empty() && mnt_table_next_fs(tb.get(), it, &fs) == 0) {
    const char* target = mnt_fs_get_target(fs);
    const char* type = mnt_fs_get_fstype(fs);
    if (target && type && inside(target, source) && kKernelFs.contains(type)) {
      found = target;
      fstype = type;
    }
  }
  mnt_free_iter(it);
  if (!found.empty()) {
    Error e(ErrorKind::Usage, fmt::format("copy OS tree: {} is mounted at {} inside the source root {}: host "
                                          "content would be copied; unmount it first",
                                          fstype, found, source));
    e.op = "copy OS tree";
    e.target = source;
    throw e;
  }
}

struct HeldBy {
  std::string target, source, fstype;
};

// The mount holding `path` among those at or under `dst` (the longest
// target containing it).
std::optional<HeldBy> mount_holding(const std::string& path, const std::string& dst) {
  std::unique_ptr<libmnt_table, void (*)(libmnt_table*)> tb(mnt_new_table_from_file("/proc/self/mountinfo"),
                                                            mnt_unref_table);
  if (!tb) return std::nullopt;
  libmnt_iter* it = mnt_new_iter(MNT_ITER_FORWARD);
  libmnt_fs* fs = nullptr;
  std::optional<HeldBy> best;
  while (mnt_table_next_fs(tb.get(), it, &fs) == 0) {
    const char* target = mnt_fs_get_target(fs);
    if (target == nullptr || !inside(target, dst) || !inside(path, target)) continue;
    if (best && best->target.size() > std::string(target).size()) continue;
    const char* source = mnt_fs_get_source(fs);
    const char* type = mnt_fs_get_fstype(fs);
    best = HeldBy{target, source ? source : "", type ? type : ""};
  }
  mnt_free_iter(it);
  return best;
}

std::string in_root(const std::string& path, const std::string& root) {
  return path == root ? "/" : path.substr(root.size());
}

// cp's output names what it could not write: "cp: error writing 'PATH': No
// space left on device". A copy that filled a filesystem of the new layout
// (a partition device, not a directory staged in the build directory) is the
// layout's fault: said first, naming where it is mounted and its size; the
// command and cp's lines about it follow. The argv is dropped so that the
// build directory (which holds the mount points) is not blamed for it.
std::optional<Error> layout_full(const Error& e, const std::string& dst) {
  if (e.kind() != ErrorKind::Command) return std::nullopt;
  std::optional<HeldBy> held;
  std::vector<std::string> lines;
  for (const auto& line : e.output_tail) {
    if (line.find("No space left on device") == std::string::npos) continue;
    auto open = line.find('\'');
    auto close = open == std::string::npos ? open : line.find('\'', open + 1);
    if (close == std::string::npos) continue;
    std::string path = line.substr(open + 1, close - open - 1);
    if (!inside(path, dst)) continue;
    if (!held) held = mount_holding(path, dst);
    if (lines.size() < 3) lines.push_back(line);
  }
  if (!held || !held->source.starts_with("/dev/")) return std::nullopt;
  struct statvfs st;
  std::uint64_t size = 0, free = 0;
  if (::statvfs(held->target.c_str(), &st) == 0) {
    size = static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize;
    free = static_cast<std::uint64_t>(st.f_bfree) * st.f_frsize;
  }
  std::string at = in_root(held->target, dst);
  // The step name the runner put in front goes in front of the whole message.
  std::string command = e.what();
  if (command.starts_with("step '")) {
    auto end = command.find("': ");
    if (end != std::string::npos) command = command.substr(end + 3);
  }
  Error out(ErrorKind::Command,
            fmt::format("no space left on the filesystem mounted at {} ({} {}, {} MiB, {} MiB free) while copying "
                        "the OS tree; make its partition larger ({})",
                        at, held->fstype, held->source, size >> 20, free >> 20, command));
  out.op = "copy OS tree";
  out.target = at;
  out.exit_code = e.exit_code;
  out.output_tail = lines;
  return out;
}

}  // namespace

void copy_os_tree(const std::string& source_root, const std::string& dest_root) {
  std::string src = real_dir(source_root, "source");
  std::string dst = real_dir(dest_root, "destination");
  if (inside(src, dst) || inside(dst, src))
    throw Error(ErrorKind::Usage,
                fmt::format("copy OS tree: the source root {} and the destination root {} overlap", src, dst));
  refuse_kernel_mounts(src);
  log::info("copying the OS tree of {} to {}", src, dst);
  // -T: the source's contents go into the existing destination directory.
  try {
    run_checked({"cp", "--archive", "--preserve=all", "--sparse=always", "--no-target-directory", "--", src, dst});
  } catch (const Error& e) {
    if (auto full = layout_full(e, dst)) throw *full;
    throw;
  }
}

}  // namespace imgrecipe
