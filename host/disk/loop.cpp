#include "host/disk/loop.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

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

}  // namespace

LoopDevice::LoopDevice(std::string path, std::string file, int fd)
    : path_(std::move(path)), file_(std::move(file)), fd_(fd) {
  entry_ = TeardownEntry("loop device " + path_, [fd = fd_, p = path_] { detach_fd(fd, p); });
}

std::unique_ptr<LoopDevice> LoopDevice::attach(const std::string& file, std::uint64_t offset, std::uint64_t size,
                                               bool read_only) {
  fault::point("attach loop device", file);
  const int mode = read_only ? O_RDONLY : O_RDWR;
  UniqueFd backing = open_or_throw(file, mode);
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
    cfg.fd = static_cast<__u32>(backing.get());
    cfg.info.lo_offset = offset;
    cfg.info.lo_sizelimit = size;
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
    std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), file.c_str(), LO_NAME_SIZE - 1);
    if (ioctl(fd.get(), LOOP_CONFIGURE, &cfg) == 0) {
      log::debug("attached {} to {} (offset {}, size {}{})", dev, file, offset, size, read_only ? ", read-only" : "");
      return std::unique_ptr<LoopDevice>(new LoopDevice(dev, file, fd.release()));
    }
    if (errno != EBUSY) throw_errno("attach loop device", fmt::format("{} to {}", dev, file));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw_system("attach loop device", file, EBUSY);
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
