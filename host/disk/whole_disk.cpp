#include "host/disk/whole_disk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/blkpg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe {

struct WholeDisk::State {
  int fd = -1;  // our own fd of the loop device, for BLKPG
  std::string device;
  std::vector<int> added;  // partition numbers added, in order
  std::vector<std::string> made_nodes;
  LoopDevice* loop = nullptr;  // owned by the WholeDisk; null once detached
};

namespace {

std::string base_name(const std::string& dev) { return dev.substr(dev.rfind('/') + 1); }

int blkpg(int fd, int op, int number, std::uint64_t start, std::uint64_t length) {
  blkpg_partition part;
  std::memset(&part, 0, sizeof part);
  part.start = static_cast<long long>(start);
  part.length = static_cast<long long>(length);
  part.pno = number;
  blkpg_ioctl_arg arg;
  std::memset(&arg, 0, sizeof arg);
  arg.op = op;
  arg.datalen = sizeof part;
  arg.data = &part;
  return ioctl(fd, BLKPG, &arg);
}

// Partition numbers the kernel has for `dev` (sysfs /sys/block/loopN/loopNpM).
std::vector<int> kernel_partitions(const std::string& dev) {
  std::vector<int> out;
  const std::string name = base_name(dev);
  DIR* d = opendir(("/sys/block/" + name).c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind(name + "p", 0) != 0) continue;
    try {
      out.push_back(std::stoi(n.substr(name.size() + 1)));
    } catch (...) {
    }
  }
  closedir(d);
  return out;
}

dev_t sysfs_devnum(const std::string& dev, int number) {
  const std::string name = base_name(dev);
  std::ifstream in(fmt::format("/sys/block/{0}/{0}p{1}/dev", name, number));
  unsigned maj = 0, min = 0;
  char colon = 0;
  if (!(in >> maj >> colon >> min))
    throw_system("find partition device number", fmt::format("{}p{}", dev, number), ENOENT);
  return makedev(maj, min);
}

// Deletes what is still there; on success detaches. Throws on the first
// partition that cannot be deleted (busy).
void release_state(WholeDisk::State& s) {
  for (const auto& node : s.made_nodes) ::unlink(node.c_str());
  s.made_nodes.clear();
  while (!s.added.empty()) {
    int n = s.added.back();
    if (blkpg(s.fd, BLKPG_DEL_PARTITION, n, 0, 0) != 0 && errno != ENXIO) {
      throw_errno("remove partition", fmt::format("{}p{} (still mounted or open?)", s.device, n));
    }
    s.added.pop_back();
  }
  if (s.fd >= 0) ::close(s.fd);
  s.fd = -1;
  if (s.loop != nullptr) s.loop->detach();
  s.loop = nullptr;
}

}  // namespace

std::unique_ptr<WholeDisk> WholeDisk::attach(const std::string& file, bool read_only) {
  std::unique_ptr<WholeDisk> d(new WholeDisk());
  d->table_ = read_partition_table(file);
  d->loop_ = LoopDevice::attach(file, 0, 0, read_only);
  auto s = std::make_shared<State>();
  s->device = d->loop_->path();
  s->loop = d->loop_.get();
  s->fd = open_or_throw(s->device, read_only ? O_RDONLY : O_RDWR).release();
  d->state_ = s;
  d->entry_ = teardown().push("partitions of " + s->device, [s] { release_state(*s); });

  // A loop device keeps BLKPG partitions after it is detached (only its own
  // partition scan removes them), e.g. when a previous run was killed.
  for (int n : kernel_partitions(s->device)) {
    log::debug("{}: removing stale partition {}", s->device, n);
    if (blkpg(s->fd, BLKPG_DEL_PARTITION, n, 0, 0) != 0 && errno != ENXIO) {
      throw_errno("remove stale partition", fmt::format("{}p{}", s->device, n));
    }
  }
  for (const Partition& p : d->table_.partitions) {
    if (blkpg(s->fd, BLKPG_ADD_PARTITION, p.number, p.start, p.size) != 0) {
      throw_errno("add partition", fmt::format("{}p{} ({} bytes at {})", s->device, p.number, p.size, p.start));
    }
    s->added.push_back(p.number);
    const std::string node = fmt::format("{}p{}", s->device, p.number);
    const dev_t want = sysfs_devnum(s->device, p.number);
    struct stat st;
    if (::lstat(node.c_str(), &st) == 0) {
      if (S_ISBLK(st.st_mode) && st.st_rdev == want) continue;  // devtmpfs made it
      // A leftover node of an earlier partition on this device.
      if (::unlink(node.c_str()) != 0) throw_errno("remove stale node", node);
    }
    if (::mknod(node.c_str(), S_IFBLK | 0660, want) != 0) throw_errno("mknod", node);
    s->made_nodes.push_back(node);
  }
  log::debug("attached {} as {} with {} partitions", file, s->device, s->added.size());
  return d;
}

WholeDisk::~WholeDisk() {
  try {
    release();
  } catch (const std::exception& e) {
    // The entry stays on the teardown stack (it owns the state) and retries.
    log::warn("releasing {}: {}", state_ ? state_->device : std::string("disk"), e.what());
    if (state_) state_->loop = nullptr;  // the LoopDevice goes with this object; autoclear detaches it
  }
}

std::string WholeDisk::partition_device(int number) const {
  auto it = std::find_if(table_.partitions.begin(), table_.partitions.end(),
                         [&](const Partition& p) { return p.number == number; });
  if (it == table_.partitions.end()) {
    throw_usage(fmt::format("{} has no partition {}", loop_ ? loop_->backing_file() : "the disk", number));
  }
  return fmt::format("{}p{}", loop_->path(), number);
}

std::unique_ptr<LoopDevice> WholeDisk::read_only_view(int number) const {
  partition_device(number);  // the usage error for a partition the table lacks
  const Partition& p = *std::find_if(table_.partitions.begin(), table_.partitions.end(),
                                     [&](const Partition& q) { return q.number == number; });
  loop_->flush();
  return LoopDevice::attach(loop_->backing_file(), p.start, p.size, true);
}

void WholeDisk::release() {
  if (!state_ || entry_ == 0) return;
  release_state(*state_);
  teardown().forget(entry_);
  entry_ = 0;
}

}  // namespace imgrecipe
