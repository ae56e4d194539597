#include "host/fs/os_copy.hpp"

#include <libmount/libmount.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <set>

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
  run_checked({"cp", "--archive", "--preserve=all", "--sparse=always", "--no-target-directory", "--", src, dst});
}

}  // namespace imgrecipe
