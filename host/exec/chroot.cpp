#include "host/exec/chroot.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "host/system/cleanup.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"

namespace imgrecipe {
namespace {

// ---- Parent side: temporary changes to the image, restored exactly. ----

// Puts `content` at `path` for the duration of a run. The original entry
// (file, symlink or nothing) is renamed aside and renamed back, so its inode,
// mode, owner, timestamps and labels come back untouched. If the command
// replaced our file with its own, its version is kept.
class TemporaryFile {
 public:
  TemporaryFile(const RootDir& root, std::string path, const std::string& content, mode_t mode)
      : root_(root), path_(std::move(path)), content_(content) {
    backup_ = path_ + ".imgrecipe-saved";
    had_original_ = root_.lstat(path_).has_value();
    if (had_original_) root_.rename(path_, backup_);
    entry_ = TeardownEntry("restore " + path_, [this] { restore(); });
    root_.write_file(path_, content_, mode);
    // Only a regular file we wrote ourselves is ours to remove later.
    ours_ = root_.lstat(path_).has_value();
  }
  ~TemporaryFile() {
    try {
      restore();
    } catch (const std::exception& e) {
      log::error("restoring {}: {}", path_, e.what());
    }
  }
  void restore() {
    if (done_) return;
    done_ = true;
    entry_.dismiss();
    auto st = root_.lstat(path_);
    bool untouched = st && S_ISREG(st->st_mode) && root_.read_file(path_) == content_;
    if (!untouched && ours_) {
      log::info("{} was changed by the command; keeping the new version", path_);
      if (had_original_) root_.remove(backup_);
      return;
    }
    if (st) root_.remove(path_);
    if (had_original_) root_.rename(backup_, path_);
  }

 private:
  const RootDir& root_;
  std::string path_, backup_, content_;
  bool had_original_ = false, ours_ = false, done_ = false;
  TeardownEntry entry_;
};

std::string host_resolv_conf() {
  std::ifstream in("/etc/resolv.conf");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- Child side: runs after fork, before exec. ----

void mount_or_throw(const char* src, const std::string& target, const char* type, unsigned long flags,
                    const char* data) {
  if (::mount(src, target.c_str(), type, flags, data) != 0) {
    throw_errno(fmt::format("mount {} ({})", src ? src : "none", type ? type : "bind"), target);
  }
}

void ensure_dir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir", path);
}

// A minimal /dev: only the nodes programs expect and the image's own
// partitions, never the host's disks.
void setup_dev(const std::string& root, const std::vector<ChrootDevice>& devices) {
  std::string dev = root + "/dev";
  ensure_dir(dev);
  mount_or_throw("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=4m");
  for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
    std::string host = std::string("/dev/") + node;
    std::string target = dev + "/" + node;
    int fd = ::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) throw_errno("create", target);
    ::close(fd);
    mount_or_throw(host.c_str(), target, nullptr, MS_BIND, nullptr);
  }
  ensure_dir(dev + "/pts");
  mount_or_throw("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  if (symlink("pts/ptmx", (dev + "/ptmx").c_str()) != 0) throw_errno("symlink", dev + "/ptmx");
  ensure_dir(dev + "/shm");
  mount_or_throw("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  symlink("/proc/self/fd", (dev + "/fd").c_str());
  symlink("/proc/self/fd/0", (dev + "/stdin").c_str());
  symlink("/proc/self/fd/1", (dev + "/stdout").c_str());
  symlink("/proc/self/fd/2", (dev + "/stderr").c_str());
  for (const auto& d : devices) {
    const std::string& name = d.name;
    if (name.empty() || name.find('/') != std::string::npos) throw Error(ErrorKind::Internal, "bad device name: " + name);
    std::string target = dev + "/" + name;
    int fd = ::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) throw_errno("create", target);
    ::close(fd);
    mount_or_throw(d.host_path.c_str(), target, nullptr, MS_BIND, nullptr);
    for (const auto& link : d.links) {
      // Links are relative to /dev; their directories are created as needed.
      std::string path = dev + "/" + link;
      std::string up;
      for (size_t i = dev.size() + 1; i < path.size(); ++i) {
        if (path[i] == '/') {
          ensure_dir(path.substr(0, i));
          up += "../";
        }
      }
      if (symlink((up + name).c_str(), path.c_str()) != 0 && errno != EEXIST) throw_errno("symlink", path);
    }
  }
}

void child_enter(const std::string& root, const std::vector<std::pair<std::string, BindMount>>& binds,
                 const std::vector<ChrootDevice>& devices) {
  // UTS too: `hostname` in an image script must not rename the build host.
  if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS) != 0) throw_errno("unshare", "mount+pid+uts namespace");
  // The first child in the new PID namespace becomes its init: when it exits
  // the kernel kills every process the command left behind, so nothing keeps
  // the image busy.
  pid_t pid = fork();
  if (pid < 0) throw_errno("fork", "chroot");
  if (pid > 0) {
    // Intermediate process (old namespace): relay the exit status.
    static pid_t child;
    child = pid;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = [](int) { ::kill(child, SIGKILL); };
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    _exit(128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) throw_errno("make mounts private", "/");
  setup_dev(root, devices);
  ensure_dir(root + "/proc");
  mount_or_throw("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  ensure_dir(root + "/sys");
  mount_or_throw("/sys", root + "/sys", nullptr, MS_BIND | MS_REC, nullptr);
  mount_or_throw(nullptr, root + "/sys", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr);
  ensure_dir(root + "/run");
  mount_or_throw("tmpfs", root + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  for (const auto& [target, b] : binds) {
    mount_or_throw(b.host_path.c_str(), target, nullptr, MS_BIND | (b.recursive ? MS_REC : 0), nullptr);
    if (b.read_only) mount_or_throw(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr);
  }
  if (chroot(root.c_str()) != 0) throw_errno("chroot", root);
  if (chdir("/") != 0) throw_errno("chdir", "/");
}

}  // namespace

std::vector<std::string> chroot_base_env() {
  return {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "HOME=/root",
          "USER=root",
          "LOGNAME=root",
          "SHELL=/bin/sh",
          "TERM=dumb",
          "LANG=C.UTF-8",
          "DEBIAN_FRONTEND=noninteractive",
          "DEBCONF_NONINTERACTIVE_SEEN=true"};
}

RunResult chroot_run(const RootDir& root, const std::vector<std::string>& argv, const ChrootOptions& opts) {
  // No service may start from package scripts (Debian's invoke-rc.d honours
  // policy-rc.d; systemctl refuses to start units in a chroot by itself).
  TemporaryFile policy(root, "/usr/sbin/policy-rc.d", "#!/bin/sh\n# imgrecipe: no services in the chroot\nexit 101\n",
                       0755);
  std::optional<TemporaryFile> resolv;
  if (opts.network) {
    std::string conf = host_resolv_conf();
    // A session-wide override (imgrecipe.resolv) already put the host's file
    // in place: swapping it for an identical copy per run would only churn.
    auto current = root.lstat("/etc/resolv.conf");
    bool provided = current && S_ISREG(current->st_mode) && root.read_file("/etc/resolv.conf") == conf;
    if (!conf.empty() && !provided) resolv.emplace(root, "/etc/resolv.conf", conf, 0644);
  }

  // Bind targets are created in the image for the run and removed after.
  std::vector<std::pair<std::string, BindMount>> binds;
  std::vector<std::string> created;
  struct RemoveCreated {
    const RootDir& root;
    std::vector<std::string>& dirs;
    ~RemoveCreated() {
      for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
        try {
          root.remove(*it);
        } catch (const std::exception& e) {
          log::warn("removing {}: {}", *it, e.what());
        }
      }
    }
  } remove_created{root, created};
  for (const auto& b : opts.binds) {
    std::string p = image_path(b.image_path);
    // Record each missing component so all of them are removed afterwards.
    std::string walk;
    std::vector<std::string> missing;
    for (size_t i = 1; i <= p.size(); ++i) {
      if (i == p.size() || p[i] == '/') {
        walk = p.substr(0, i);
        if (!root.exists(walk)) missing.push_back(walk);
      }
    }
    std::string target = root.resolve(p, true);
    created.insert(created.end(), missing.begin(), missing.end());
    binds.emplace_back(target, b);
  }

  std::vector<std::string> env = chroot_base_env();
  for (const auto& kv : opts.env) {
    auto eq = kv.find('=');
    std::string key = kv.substr(0, eq);
    std::erase_if(env, [&](const std::string& e) { return e.compare(0, key.size() + 1, key + "=") == 0; });
    env.push_back(kv);
  }

  RunOptions ro;
  ro.step = opts.step;
  ro.env = env;
  ro.output_level = opts.output_level;
  ro.stdin_data = opts.stdin_data;
  ro.secret_args = opts.secret_args;
  std::string root_path = root.path();
  ro.child_setup = [root_path, &binds, &opts] { child_enter(root_path, binds, opts.devices); };
  ro.cwd = opts.cwd;
  RunResult r = run(argv, ro);
  // Restored here, not only by the destructors (which can merely log), so a
  // failed restore fails the run instead of leaving our file in the output.
  if (resolv) resolv->restore();
  policy.restore();
  return r;
}

RunResult chroot_run_checked(const RootDir& root, const std::vector<std::string>& argv, const ChrootOptions& opts) {
  RunResult r = chroot_run(root, argv, opts);
  if (r.exit_code == 0) return r;
  throw command_error(argv, r, opts.step.empty() ? log::step() : opts.step, opts.secret_args, " in the image");
}

}  // namespace imgrecipe
