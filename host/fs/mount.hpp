// Mounts through libmount. A Mount is unmounted when released or destroyed
// and is registered with the teardown stack meanwhile.
#pragma once

#include <memory>
#include <string>

#include "host/system/cleanup.hpp"

namespace imgrecipe {

class Mount {
 public:
  // `target` must be a host path already resolved safely (RootDir::resolve).
  // `options` is a mount option string ("ro", "bind", "bind,ro", ...).
  static std::unique_ptr<Mount> mount(const std::string& source, const std::string& target,
                                      const std::string& fstype, const std::string& options);
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  const std::string& source() const { return source_; }
  const std::string& target() const { return target_; }
  const std::string& fstype() const { return fstype_; }
  // Flushes a writable filesystem mounted from a device and throws if it
  // recorded a write error since it was mounted: syncfs fails (its loop device
  // could not write, e.g. the build directory is full), ext4 counted new
  // errors, or the kernel made it read-only. A kernel that aborts a journal
  // lets writes fail silently until then. No-op for bind and read-only mounts.
  // `what` names the filesystem in the error (default: type, device, target).
  void check_health(const std::string& what = "");
  void unmount();

 private:
  Mount(std::string source, std::string target, std::string fstype, const std::string& options);
  void close_sync_fd();
  std::string source_, target_, fstype_;
  bool mounted_ = true;
  // Open from the mount on, so syncfs reports every write error since then.
  int sync_fd_ = -1;
  long long ext4_errors_at_mount_ = 0;
  TeardownEntry entry_;
};

// Moves this process into a private mount namespace, so every mount it makes
// is invisible to the host and vanishes with the process even if it is
// killed. Needs CAP_SYS_ADMIN.
void enter_private_mount_namespace();

// Whether the running kernel can mount `fstype` (listed in /proc/filesystems).
bool kernel_supports_filesystem(const std::string& fstype);

}  // namespace imgrecipe
