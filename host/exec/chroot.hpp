// Runs commands inside a mounted image, in a container sandbox: its own
// mount namespace entered with pivot_root (no way back to the host's root),
// PID, UTS and IPC namespaces, capabilities that act on the host dropped,
// a seccomp filter refusing mounts, namespaces and other host-wide calls,
// a minimal /dev, its own /proc with the host-wide parts read-only, a
// read-only /sys, a tmpfs /run, a clean fixed environment, the host's
// resolv.conf in place for the run and no service starts. Nothing it mounts
// is visible outside the command. docs/security.md says what is isolated.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "host/system/process.hpp"
#include "host/fs/root_dir.hpp"

namespace imgrecipe {

struct BindMount {
  std::string host_path;
  std::string image_path;  // created for the run if missing, removed after
  bool read_only = true;
  // Without: only the filesystem at host_path, not the mounts below it.
  bool recursive = true;
};

// A block device of the image made visible in the run's /dev as `name`,
// with /dev-relative symlinks to it such as "disk/by-uuid/<uuid>": tools
// like grub-probe map mounts to devices and look for these links.
struct ChrootDevice {
  std::string host_path;  // e.g. /dev/loop3
  std::string name;       // node name in /dev
  std::vector<std::string> links;
};

struct ChrootOptions {
  std::string step;
  std::vector<std::string> env;  // extra "K=V", on top of the clean environment
  std::vector<BindMount> binds;
  std::string cwd = "/";
  std::optional<std::string> stdin_data;
  log::Level output_level = log::Level::Info;
  bool secret_args = false;
  // Provide the host's DNS configuration during the run.
  bool network = true;
  // The image's own partition devices; never host disks.
  std::vector<ChrootDevice> devices;
};

// The hostname commands in the image see: the first name in the image's
// /etc/hostname, or "localhost" when it is missing or unusable.
std::string image_hostname(const RootDir& root);

// The fixed environment every chroot command starts with.
std::vector<std::string> chroot_base_env();

RunResult chroot_run(const RootDir& root, const std::vector<std::string>& argv, const ChrootOptions& opts = {});
// Non-zero exit throws ErrorKind::Command (command, exit code, output tail).
RunResult chroot_run_checked(const RootDir& root, const std::vector<std::string>& argv,
                             const ChrootOptions& opts = {});

}  // namespace imgrecipe
