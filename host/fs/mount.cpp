#include "host/fs/mount.hpp"

#include <libmount/libmount.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
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

namespace imgrecipe {
namespace {

std::string context_error(libmnt_context* cxt, int rc, const std::string& what) {
  char buf[BUFSIZ] = {0};
  int ex = mnt_context_get_excode(cxt, rc, buf, sizeof buf);
  (void)ex;
  return buf[0] != '\0' ? std::string(buf) : fmt::format("{} failed (code {})", what, rc);
}

void do_umount(const std::string& target) {
  // Retry briefly: a just-exited chroot process may still hold a reference.
  for (int attempt = 0; attempt < 25; ++attempt) {
    if (::umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) return;
    if (errno == EINVAL || errno == ENOENT) return;  // not mounted any more
    if (errno != EBUSY) throw_errno("unmount", target);
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  log::warn("{} is busy; detaching it lazily", target);
  if (::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL) throw_errno("unmount", target);
}

bool has_option(const std::string& options, const std::string& opt) {
  return ("," + options + ",").find("," + opt + ",") != std::string::npos;
}

// ext4's error counter for the device (/sys/fs/ext4/loopN/errors_count); -1 if none.
long long ext4_errors(const std::string& fstype, const std::string& device) {
  if (fstype.rfind("ext", 0) != 0 || device.rfind("/dev/", 0) != 0) return -1;
  std::ifstream in("/sys/fs/ext4/" + device.substr(device.rfind('/') + 1) + "/errors_count");
  long long n = -1;
  if (!(in >> n)) return -1;
  return n;
}

}  // namespace

Mount::Mount(std::string source, std::string target, std::string fstype, const std::string& options)
    : source_(std::move(source)), target_(std::move(target)), fstype_(std::move(fstype)) {
  if (!fstype_.empty() && source_.rfind("/dev/", 0) == 0 && !has_option(options, "ro") &&
      !has_option(options, "bind")) {
    sync_fd_ = ::open(target_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sync_fd_ < 0) log::warn("cannot open {} to check it later: {}", target_, std::strerror(errno));
    ext4_errors_at_mount_ = ext4_errors(fstype_, source_);
  }
  entry_ = TeardownEntry("mount " + target_, [this] { unmount(); });
}

std::unique_ptr<Mount> Mount::mount(const std::string& source, const std::string& target, const std::string& fstype,
                                    const std::string& options) {
  fault::point("mount", target);
  libmnt_context* cxt = mnt_new_context();
  if (cxt == nullptr) throw_system("mnt_new_context", target, ENOMEM);
  // No /sbin/mount.<type> helpers and no utab bookkeeping: we own these mounts.
  mnt_context_disable_helpers(cxt, 1);
  mnt_context_disable_mtab(cxt, 1);
  mnt_context_disable_canonicalize(cxt, 1);
  mnt_context_set_source(cxt, source.c_str());
  mnt_context_set_target(cxt, target.c_str());
  if (!fstype.empty()) mnt_context_set_fstype(cxt, fstype.c_str());
  if (!options.empty()) mnt_context_set_options(cxt, options.c_str());
  int rc = mnt_context_mount(cxt);
  if (rc != 0) {
    std::string msg = context_error(cxt, rc, "mount");
    int err = mnt_context_syscall_called(cxt) ? mnt_context_get_syscall_errno(cxt) : 0;
    mnt_free_context(cxt);
    Error e(ErrorKind::System, fmt::format("mount {} on {}{}: {}", source, target,
                                           fstype.empty() ? "" : " (" + fstype + ")", msg));
    e.op = "mount";
    e.target = target;
    e.sys_errno = err;  // callers tell a corrupt filesystem (EINVAL, EUCLEAN) from other failures
    throw e;
  }
  mnt_free_context(cxt);
  log::debug("mounted {} on {} ({}{})", source, target, fstype.empty() ? "auto" : fstype,
             options.empty() ? "" : ", " + options);
  try {
    return std::unique_ptr<Mount>(new Mount(source, target, fstype, options));
  } catch (...) {
    do_umount(target);
    throw;
  }
}

Mount::~Mount() {
  try {
    unmount();
  } catch (const std::exception& e) {
    log::error("{}", e.what());
  }
}

void Mount::close_sync_fd() {
  if (sync_fd_ >= 0) ::close(sync_fd_);  // an open fd would keep the mount busy
  sync_fd_ = -1;
}

void Mount::check_health(const std::string& what) {
  if (!mounted_ || sync_fd_ < 0) return;
  fault::point("sync filesystem", target_);
  std::vector<std::string> problems;
  if (::syncfs(sync_fd_) != 0) problems.push_back(fmt::format("writing it out failed ({})", std::strerror(errno)));
  long long errors = ext4_errors(fstype_, source_);
  if (errors > ext4_errors_at_mount_ && ext4_errors_at_mount_ >= 0)
    problems.push_back(fmt::format("the kernel recorded {} new filesystem errors", errors - ext4_errors_at_mount_));
  struct statvfs st;
  if (::fstatvfs(sync_fd_, &st) == 0 && (st.f_flag & ST_RDONLY) != 0)
    problems.push_back("the kernel switched it to read-only after an error");
  if (problems.empty()) return;
  std::string list;
  for (const auto& p : problems) list += (list.empty() ? "" : "; ") + p;
  std::string name = what.empty() ? fmt::format("the {} filesystem on {} (mounted at {})", fstype_, source_, target_)
                                  : what;
  Error e(ErrorKind::System, fmt::format("{} lost writes: {}", name, list));
  e.op = "check filesystem";
  e.target = target_;
  e.sys_errno = EIO;
  throw e;
}

void Mount::unmount() {
  if (!mounted_) return;
  mounted_ = false;
  entry_.dismiss();
  close_sync_fd();
  do_umount(target_);
  log::debug("unmounted {}", target_);
}

void enter_private_mount_namespace() {
  if (unshare(CLONE_NEWNS) != 0) throw_errno("create a private mount namespace (unshare)", "CLONE_NEWNS");
  // Slave, not private: our mounts never reach the host, but the host's
  // unmounts still reach us, so a run does not keep the host's filesystems
  // (a USB disk, another build's scratch mount) busy until it ends.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) throw_errno("make mounts private", "/");
}

bool kernel_supports_filesystem(const std::string& fstype) {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.rfind('\t');
    std::string name = tab == std::string::npos ? line : line.substr(tab + 1);
    if (name == fstype) return true;
  }
  return false;
}

}  // namespace imgrecipe
