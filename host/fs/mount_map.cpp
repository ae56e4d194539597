#include "host/fs/mount_map.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <set>

#include <fmt/format.h>

#include "host/disk/probe.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/signals.hpp"

namespace imgrecipe {
namespace {

bool is_fat(const std::string& t) { return t == "vfat" || t == "msdos" || t == "fat" || t == "fat32"; }

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  Error e(ErrorKind::Usage, fmt::format("mount map: '{}': {}", path, why));
  e.op = "mount map";
  e.target = path;
  throw e;
}

std::uint64_t device_size(const std::string& device) {
  int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("open", device);
  std::uint64_t size = 0;
  int rc = ::ioctl(fd, BLKGETSIZE64, &size);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw_system("read the size of", device, err);
  return size;
}

}  // namespace

bool mount_path_before(const std::string& a, const std::string& b) { return components(a) < components(b); }

std::unique_ptr<MountMap> MountMap::mount(const std::string& root_dir, const std::string& work_dir,
                                          std::vector<MountMapEntry> entries, const Options& opts) {
  std::set<std::string> seen;
  for (auto& e : entries) {
    if (e.path.empty() || e.path[0] != '/') fail(e.path, "the mount path must be absolute");
    if (e.path.find("/../") != std::string::npos || e.path.ends_with("/.."))
      fail(e.path, "the mount path must not contain '..'");
    e.path = image_path(e.path);
    if (!seen.insert(e.path).second) fail(e.path, "mounted twice");
    struct stat st;
    if (::stat(e.device.c_str(), &st) != 0 || !S_ISBLK(st.st_mode))
      fail(e.path, fmt::format("{} is not a block device", e.device));
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const MountMapEntry& a, const MountMapEntry& b) { return mount_path_before(a.path, b.path); });

  std::unique_ptr<MountMap> m(new MountMap());
  m->root_dir_ = root_dir;
  m->work_dir_ = work_dir;
  m->opts_ = opts;
  if (::mkdir(root_dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("create directory", root_dir);
  std::size_t i = 0;
  if (!entries.empty() && entries[0].path == "/") m->mount_one(entries[i++]);
  // The root is opened after "/" is mounted: targets resolve in the new filesystem.
  m->root_ = std::make_unique<RootDir>(root_dir);
  for (; i < entries.size(); ++i) m->mount_one(entries[i]);
  return m;
}

void MountMap::mount_one(const MountMapEntry& e) {
  signals::check();
  std::string fstype = e.fstype;
  if (fstype.empty()) {
    fstype = probe_filesystem(e.device).type;
    if (fstype.empty()) fail(e.path, fmt::format("no filesystem found on {}", e.device));
  }
  if (fstype == "fat32") fstype = "vfat";
  std::string host_target = e.path == "/" ? root_dir_ : root_->resolve(e.path, true);
  bool stage = is_fat(fstype) && (opts_.stage_fat || !kernel_supports_filesystem("vfat"));
  Held h;
  if (stage) {
    std::string dir = fmt::format("{}/fat{}", work_dir_, held_.size() + 1);
    h.stage = std::make_unique<FatStage>(e.device, 0, device_size(e.device), dir, false);
    h.mount = Mount::mount(dir, host_target, "", "bind");
  } else {
    h.mount = Mount::mount(e.device, host_target, fstype, e.options);
  }
  held_.push_back(std::move(h));
  info_.push_back({e.path, e.device, fstype, stage});
  log::info("mounted {} ({}{}) at {}", e.device, fstype, stage ? ", staged" : "", e.path);
}

MountMap::~MountMap() {
  try {
    release(false);
  } catch (const std::exception& e) {
    log::error("releasing mount map {}: {}", root_dir_, e.what());
  }
}

void MountMap::release(bool commit) {
  if (released_) return;
  released_ = true;
  root_.reset();  // its directory fd would keep the root mount busy
  std::exception_ptr first;
  for (auto it = held_.rbegin(); it != held_.rend(); ++it) {
    try {
      if (it->mount) it->mount->unmount();
      if (it->stage) {
        if (commit) it->stage->commit();
        else it->stage->discard();
      }
    } catch (...) {
      if (!first) first = std::current_exception();
      commit = false;  // nothing more is written back after a failure
    }
  }
  held_.clear();
  if (first) std::rethrow_exception(first);
}

}  // namespace imgrecipe
