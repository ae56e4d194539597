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
  void unmount();

 private:
  Mount(std::string source, std::string target, std::string fstype);
  std::string source_, target_, fstype_;
  bool mounted_ = true;
  TeardownEntry entry_;
};

// Moves this process into a private mount namespace, so every mount it makes
// is invisible to the host and vanishes with the process even if it is
// killed. Needs CAP_SYS_ADMIN.
void enter_private_mount_namespace();

// Whether the running kernel can mount `fstype` (listed in /proc/filesystems).
bool kernel_supports_filesystem(const std::string& fstype);

}  // namespace imgrecipe
