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
  // Attaches [offset, offset+size) of `file` (size 0 = to the end).
  static std::unique_ptr<LoopDevice> attach(const std::string& file, std::uint64_t offset, std::uint64_t size,
                                            bool read_only);
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
