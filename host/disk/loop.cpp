#include "host/disk/loop.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/log.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe {
namespace {

// Containers often have a static /dev: create the node from sysfs if missing.
void ensure_node(const std::string& dev, int index) {
  struct stat st;
  if (stat(dev.c_str(), &st) == 0) return;
  std::ifstream in(fmt::format("/sys/block/loop{}/dev", index));
  unsigned maj = 0, min = 0;
  char colon = 0;
  if (!(in >> maj >> colon >> min)) throw_system("find loop device node", dev, ENOENT);
  if (mknod(dev.c_str(), S_IFBLK | 0660, makedev(maj, min)) != 0 && errno != EEXIST) throw_errno("mknod", dev);
}

void detach_fd(int fd, const std::string& path) {
  // EBUSY/ENXIO: still mounted or already gone; autoclear finishes the job.
  if (ioctl(fd, LOOP_CLR_FD, 0) != 0 && errno != ENXIO && errno != EBUSY) {
    log::warn("detaching {}: {}", path, std::strerror(errno));
  }
  ::close(fd);
  log::debug("detached {}", path);
}

struct Configured {
  std::string dev;
  int fd;  // owned by the caller
};

// Configures a free loop device on `backing`.
Configured configure_free(int backing, const std::string& file, std::uint64_t offset, std::uint64_t size,
                          bool read_only) {
  const int mode = read_only ? O_RDONLY : O_RDWR;
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (control.get() < 0) {
    throw_errno("open", "/dev/loop-control (is the loop module loaded and /dev/loop-control present?)");
  }
  // Another process may grab the same free device between GET_FREE and
  // CONFIGURE; retry on EBUSY.
  for (int attempt = 0; attempt < 20; ++attempt) {
    int index = ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (index < 0) throw_errno("find a free loop device", "/dev/loop-control");
    std::string dev = fmt::format("/dev/loop{}", index);
    ensure_node(dev, index);
    UniqueFd fd = open_or_throw(dev, mode);
    loop_config cfg;
    std::memset(&cfg, 0, sizeof cfg);
    cfg.fd = static_cast<__u32>(backing);
    cfg.info.lo_offset = offset;
    cfg.info.lo_sizelimit = size;
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
    std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), file.c_str(), LO_NAME_SIZE - 1);
    if (ioctl(fd.get(), LOOP_CONFIGURE, &cfg) == 0) {
      return {dev, fd.release()};
    }
    if (errno != EBUSY) throw_errno("attach loop device", fmt::format("{} to {}", dev, file));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw_system("attach loop device", file, EBUSY);
}

struct Reserved {
  std::string file;
  dev_t st_dev;
  ino_t st_ino;
  std::string dev;
  int fd;
  TeardownEntry entry;
};
// Never destroyed: its entries' teardown registrations must not outlive the stack.
std::vector<std::unique_ptr<Reserved>>& g_reserved = *new std::vector<std::unique_ptr<Reserved>>();

std::unique_ptr<Reserved> take_reserved(const std::string& file) {
  for (auto it = g_reserved.begin(); it != g_reserved.end(); ++it) {
    if ((*it)->file != file) continue;
    std::unique_ptr<Reserved> r = std::move(*it);
    g_reserved.erase(it);
    r->entry.dismiss();
    struct stat st;
    if (::stat(file.c_str(), &st) == 0 && st.st_dev == r->st_dev && st.st_ino == r->st_ino) return r;
    log::debug("{}: replaced since {} was reserved for it", file, r->dev);
    detach_fd(r->fd, r->dev);
    return nullptr;
  }
  return nullptr;
}

// Points a reserved device at [offset, offset+size) of its file, now written.
// LOOP_SET_STATUS64 invalidates the device's own cache when the offset or
// limit changes; LOOP_SET_CAPACITY re-reads the file size otherwise.
bool reconfigure(const Reserved& r, std::uint64_t offset, std::uint64_t size) {
  loop_info64 info;
  std::memset(&info, 0, sizeof info);
  info.lo_offset = offset;
  info.lo_sizelimit = size;
  info.lo_flags = LO_FLAGS_AUTOCLEAR;
  std::strncpy(reinterpret_cast<char*>(info.lo_file_name), r.file.c_str(), LO_NAME_SIZE - 1);
  if (ioctl(r.fd, LOOP_SET_STATUS64, &info) != 0) return false;
  if (offset == 0 && size == 0 && ioctl(r.fd, LOOP_SET_CAPACITY, 0) != 0) return false;
  struct stat st;
  std::uint64_t got = 0;
  if (::stat(r.file.c_str(), &st) != 0 || ioctl(r.fd, BLKGETSIZE64, &got) != 0) return false;
  std::uint64_t file_size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t want = offset >= file_size ? 0 : file_size - offset;
  if (size != 0 && size < want) want = size;
  return got == want / 512 * 512;
}

}  // namespace

LoopDevice::LoopDevice(std::string path, std::string file, int fd)
    : path_(std::move(path)), file_(std::move(file)), fd_(fd) {
  entry_ = TeardownEntry("loop device " + path_, [fd = fd_, p = path_] { detach_fd(fd, p); });
}

std::unique_ptr<LoopDevice> LoopDevice::attach(const std::string& file, std::uint64_t offset, std::uint64_t size,
                                               bool read_only) {
  fault::point("attach loop device", file);
  if (!read_only) {
    if (auto r = take_reserved(file)) {
      if (reconfigure(*r, offset, size)) {
        log::debug("attached {} to {} (offset {}, size {}, reserved)", r->dev, file, offset, size);
        return std::unique_ptr<LoopDevice>(new LoopDevice(r->dev, file, r->fd));
      }
      log::debug("reconfiguring reserved {} for {}: {}; attaching another", r->dev, file, std::strerror(errno));
      detach_fd(r->fd, r->dev);
    }
  }
  UniqueFd backing = open_or_throw(file, read_only ? O_RDONLY : O_RDWR);
  Configured c = configure_free(backing.get(), file, offset, size, read_only);
  log::debug("attached {} to {} (offset {}, size {}{})", c.dev, file, offset, size, read_only ? ", read-only" : "");
  return std::unique_ptr<LoopDevice>(new LoopDevice(c.dev, file, c.fd));
}

void LoopDevice::reserve(const std::string& file) {
  try {
    drop_reserved(file);
    UniqueFd backing = open_or_throw(file, O_RDWR);
    struct stat st;
    if (::fstat(backing.get(), &st) != 0) throw_errno("stat", file);
    Configured c = configure_free(backing.get(), file, 0, 0, false);
    UniqueFd device(c.fd);  // detached by autoclear if anything below throws
    auto r = std::make_unique<Reserved>();
    r->file = file;
    r->st_dev = st.st_dev;
    r->st_ino = st.st_ino;
    r->dev = c.dev;
    r->fd = device.get();
    r->entry = TeardownEntry("reserved loop device " + r->dev, [fd = r->fd, dev = r->dev] {
      std::erase_if(g_reserved, [&](const auto& x) { return x->fd == fd; });
      detach_fd(fd, dev);
    });
    log::debug("reserved {} for {}", r->dev, file);
    g_reserved.push_back(std::move(r));
    device.release();
  } catch (const std::exception& e) {
    log::debug("no loop device reserved for {}: {}", file, e.what());
  }
}

void LoopDevice::drop_reserved(const std::string& file) {
  for (auto it = g_reserved.begin(); it != g_reserved.end(); ++it) {
    if ((*it)->file != file) continue;
    std::unique_ptr<Reserved> r = std::move(*it);
    g_reserved.erase(it);
    r->entry.dismiss();
    detach_fd(r->fd, r->dev);
    log::debug("released reserved {}", r->dev);
    return;
  }
}

LoopDevice::~LoopDevice() { detach(); }

void LoopDevice::flush() {
  if (fd_ < 0) return;
  // Not fsync: that would also flush the whole backing file to the disk (the
  // loop driver turns a device flush into an fsync of it), and the working
  // copy needs no durability. Waiting for the device's own write-back reports
  // every failed write since the device was opened.
  if (::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) ==
      0)
    return;
  int err = errno;
  Error e(ErrorKind::System, fmt::format("loop device {} could not write to {}: {}", path_, file_, std::strerror(err)));
  e.op = "flush loop device";
  e.target = path_;
  e.sys_errno = err;
  throw e;
}

void LoopDevice::detach() {
  if (fd_ < 0) return;
  entry_.dismiss();
  detach_fd(fd_, path_);
  fd_ = -1;
}

}  // namespace imgrecipe
