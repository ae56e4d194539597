// Loop devices through the loop ioctls. Each device is set to autoclear, so
// the kernel detaches it once it is closed and unmounted even if this process
// dies; explicit detach keeps the normal path deterministic.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "host/system/cleanup.hpp"

namespace imgrecipe {

class LoopDevice {
 public:
  // Attaches [offset, offset+size) of `file` (size 0 = to the end). A
  // writable attach takes the device reserved for `file` if there is one.
  static std::unique_ptr<LoopDevice> attach(const std::string& file, std::uint64_t offset, std::uint64_t size,
                                            bool read_only);
  // Attaches a device to `file` while it is still empty, for the first
  // writable attach() of it to take over. Since Linux 6.15 LOOP_CONFIGURE
  // writes back every dirty page of the backing file, so attaching to a
  // freshly written working copy costs a full flush of it (about 0.1 s per
  // 400 MiB); reconfiguring a reserved device (LOOP_SET_STATUS64) does not.
  // Best effort: failures are logged at debug level and ignored.
  static void reserve(const std::string& file);
  // Detaches the device reserved for `file`, if still unused.
  static void drop_reserved(const std::string& file);
  ~LoopDevice();
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;

  const std::string& path() const { return path_; }
  const std::string& backing_file() const { return file_; }
  // Writes the device's cached blocks through to the backing file (its page
  // cache; no flush to the disk) and throws if any write through this device
  // failed since it was attached (the backing file's filesystem is full, for
  // one).
  void flush();
  void detach();

 private:
  LoopDevice(std::string path, std::string file, int fd);
  std::string path_;
  std::string file_;
  int fd_ = -1;
  TeardownEntry entry_;
};

}  // namespace imgrecipe
