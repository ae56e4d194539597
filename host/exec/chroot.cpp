#include "host/exec/chroot.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
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

// /proc is the run's own (its PID namespace), but some of its files act on
// the whole host: make those read-only and hide the ones that leak kernel
// state, as container runtimes do.
void protect_proc(const std::string& proc) {
  for (const char* p : {"sys", "sysrq-trigger", "irq", "bus", "fs"}) {
    std::string path = proc + "/" + p;
    if (access(path.c_str(), F_OK) != 0) continue;
    mount_or_throw(path.c_str(), path, nullptr, MS_BIND | MS_REC, nullptr);
    mount_or_throw(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   nullptr);
  }
  for (const char* p : {"kcore", "keys", "timer_list", "sched_debug", "kallsyms"}) {
    std::string path = proc + "/" + p;
    if (access(path.c_str(), F_OK) == 0) mount_or_throw("/dev/null", path, nullptr, MS_BIND, nullptr);
  }
  for (const char* p : {"acpi", "scsi"}) {
    std::string path = proc + "/" + p;
    if (access(path.c_str(), F_OK) == 0) mount_or_throw("tmpfs", path, "tmpfs", MS_RDONLY, "mode=0555");
  }
}

// Makes `root` the root of the mount namespace with pivot_root and detaches
// the host's root: unlike chroot, nothing (a second chroot, fchdir, "..")
// leads back to it.
void pivot_into(const std::string& root) {
  if (chdir(root.c_str()) != 0) throw_errno("chdir", root);
  // new_root == put_old: the old root ends up stacked on "/" and is detached.
  if (syscall(SYS_pivot_root, ".", ".") != 0) {
    throw_errno("pivot_root into the image (is imgrecipe itself running in a chroot?)", root);
  }
  if (umount2(".", MNT_DETACH) != 0) throw_errno("detach the host root", "/");
  if (chdir("/") != 0) throw_errno("chdir", "/");
}

// Capabilities nothing in an image customization needs, and each a way to
// act on the host: kernel modules, raw I/O, reboot, the clock, device nodes
// (a host disk), open_by_handle_at (host files through a bind mount), the
// host's network configuration (the network is shared), accounting, the
// kernel log, BPF and perf, MAC policy overrides.
constexpr int kDroppedCaps[] = {CAP_SYS_MODULE,    CAP_SYS_RAWIO,       CAP_SYS_BOOT,     CAP_SYS_TIME,
                                CAP_MKNOD,         CAP_DAC_READ_SEARCH, CAP_NET_ADMIN,    CAP_SYS_PACCT,
                                CAP_SYSLOG,        CAP_WAKE_ALARM,      CAP_BLOCK_SUSPEND, CAP_AUDIT_CONTROL,
                                CAP_AUDIT_READ,    CAP_SYS_TTY_CONFIG,  CAP_MAC_OVERRIDE, CAP_BPF,
                                CAP_PERFMON,       CAP_CHECKPOINT_RESTORE};

void drop_capabilities() {
  // Bounding set: nothing executed later can gain them back (root's execve
  // grants exactly the bounding set).
  for (int cap : kDroppedCaps) {
    // EINVAL: a capability this kernel does not know, so nobody has it.
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) throw_errno("drop capability", std::to_string(cap));
  }
  // Effective, permitted and inheritable sets of this process.
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) throw_errno("capget", "");
  for (int cap : kDroppedCaps) {
    uint32_t bit = 1u << (cap % 32);
    auto& d = data[cap / 32];
    d.effective &= ~bit;
    d.permitted &= ~bit;
    d.inheritable &= ~bit;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) throw_errno("capset", "");
  // Ambient capabilities must be inheritable, so none survive anyway; clear
  // them explicitly for kernels and callers that set some.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    throw_errno("clear ambient capabilities", "");
  }
}

// CAP_SYS_ADMIN stays: sethostname (own UTS namespace) and security.*
// attributes (setfiles) need it. What it would allow beyond the sandbox is
// refused by this seccomp filter (EPERM): mounting (which could undo the
// read-only /proc/sys and /sys or mount a fresh proc or sysfs), entering or
// creating namespaces, swap, the kernel keyring (shared with the host's
// root), kernel modules, kexec, reboot, the clock, BPF, perf, open by
// handle, and the terminal ioctls that push input (TIOCSTI) or take the
// console (TIOCCONS). Other ABIs (i386, x32) could bypass the syscall
// numbers, so they are refused entirely.
void install_seccomp_filter() {
#if defined(__x86_64__)
  constexpr std::uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr std::uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
#error "seccomp filter: add this architecture's AUDIT_ARCH"
#endif
  const int blocked[] = {
    __NR_mount, __NR_umount2, __NR_pivot_root, __NR_move_mount, __NR_open_tree, __NR_fsopen, __NR_fsconfig,
    __NR_fsmount, __NR_fspick, __NR_mount_setattr, __NR_setns, __NR_unshare, __NR_swapon, __NR_swapoff,
    __NR_keyctl, __NR_add_key, __NR_request_key, __NR_init_module, __NR_finit_module, __NR_delete_module,
    __NR_kexec_load, __NR_kexec_file_load, __NR_reboot, __NR_settimeofday, __NR_clock_settime,
    __NR_clock_adjtime, __NR_adjtimex, __NR_bpf, __NR_perf_event_open, __NR_open_by_handle_at, __NR_syslog,
    __NR_acct, __NR_quotactl, __NR_fanotify_init,
#if defined(__x86_64__)
    __NR_iopl, __NR_ioperm,
#endif
  };
  constexpr std::uint32_t kDeny = SECCOMP_RET_ERRNO | EPERM;
  constexpr std::uint32_t kNewNamespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                                           CLONE_NEWUSER | CLONE_NEWCGROUP | CLONE_NEWTIME;
  auto ld = [](std::uint32_t off) { return sock_filter BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off); };
  auto ret = [](std::uint32_t v) { return sock_filter BPF_STMT(BPF_RET | BPF_K, v); };
  auto jeq = [](std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
    return sock_filter BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf);
  };
  // Low 32 bits of argument i (little endian).
  auto arg = [](int i) { return static_cast<std::uint32_t>(offsetof(seccomp_data, args) + 8 * i); };
  std::vector<sock_filter> f;
  f.push_back(ld(offsetof(seccomp_data, arch)));
  f.push_back(jeq(kArch, 1, 0));
  f.push_back(ret(kDeny));
  f.push_back(ld(offsetof(seccomp_data, nr)));
#if defined(__x86_64__)
  f.push_back(sock_filter BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1));
  f.push_back(ret(kDeny));
#endif
  for (int nr : blocked) {
    f.push_back(jeq(static_cast<std::uint32_t>(nr), 0, 1));
    f.push_back(ret(kDeny));
  }
  // clone3 passes its flags in memory the filter cannot read: ENOSYS makes
  // glibc fall back to clone, whose flags it can.
  f.push_back(jeq(__NR_clone3, 0, 1));
  f.push_back(ret(SECCOMP_RET_ERRNO | ENOSYS));
  f.push_back(jeq(__NR_clone, 0, 4));
  f.push_back(ld(arg(0)));
  f.push_back(sock_filter BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, kNewNamespaces, 0, 1));
  f.push_back(ret(kDeny));
  f.push_back(ret(SECCOMP_RET_ALLOW));
  f.push_back(jeq(__NR_ioctl, 0, 5));
  f.push_back(ld(arg(1)));
  f.push_back(jeq(TIOCSTI, 2, 0));
  f.push_back(jeq(TIOCCONS, 1, 0));
  f.push_back(ret(SECCOMP_RET_ALLOW));
  f.push_back(ret(kDeny));
  f.push_back(ret(SECCOMP_RET_ALLOW));
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) throw_errno("install seccomp filter", "");
}

void child_enter(const std::string& root, const std::vector<std::pair<std::string, BindMount>>& binds,
                 const std::vector<ChrootDevice>& devices, const std::string& hostname) {
  // UTS: `hostname` in an image script must not rename the build host, and
  // commands see the image's name, not the host's. IPC: no System V IPC or
  // POSIX message queues shared with host processes.
  if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) != 0) {
    throw_errno("unshare", "mount+pid+uts+ipc namespace");
  }
  if (sethostname(hostname.data(), hostname.size()) != 0) throw_errno("sethostname", hostname);
  // Closed (by exit) when this process dies: the namespace init checks it
  // after its own PR_SET_PDEATHSIG, for the case that we died before that.
  int alive[2];
  if (pipe2(alive, O_CLOEXEC) != 0) throw_errno("pipe", "chroot");
  // The first child in the new PID namespace becomes its init: when it exits
  // the kernel kills every process the command left behind, so nothing keeps
  // the image busy.
  pid_t pid = fork();
  if (pid < 0) throw_errno("fork", "chroot");
  if (pid > 0) {
    // Intermediate process (old namespace): relay the exit status. It dies
    // with imgrecipe (PR_SET_PDEATHSIG set by run()) and takes init along.
    ::close(alive[0]);
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
  ::close(alive[1]);
  // Killing init kills the whole namespace. getppid() cannot tell whether
  // the parent already died (it is 0 across the namespace border): the pipe
  // can, as its write end is gone then.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  pollfd p{alive[0], POLLIN, 0};
  if (poll(&p, 1, 0) > 0 && (p.revents & POLLHUP) != 0) _exit(127);
  ::close(alive[0]);

  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) throw_errno("make mounts private", "/");
  // The image root, with its own mounts (ESP, /boot...), as a mount of its
  // own: pivot_root needs one. Everything below is mounted onto this copy.
  mount_or_throw(root.c_str(), root, nullptr, MS_BIND | MS_REC, nullptr);
  setup_dev(root, devices);
  ensure_dir(root + "/proc");
  mount_or_throw("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  protect_proc(root + "/proc");
  // A fresh read-only sysfs, without the host's submounts (cgroups, efivars,
  // debugfs...) that a recursive bind would bring along writable.
  ensure_dir(root + "/sys");
  mount_or_throw("sysfs", root + "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  ensure_dir(root + "/run");
  mount_or_throw("tmpfs", root + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  for (const auto& [target, b] : binds) {
    mount_or_throw(b.host_path.c_str(), target, nullptr, MS_BIND | (b.recursive ? MS_REC : 0), nullptr);
    if (b.read_only) mount_or_throw(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr);
  }
  pivot_into(root);
  // A session of its own: no controlling terminal (that of the user who
  // started imgrecipe), so /dev/tty leads nowhere.
  if (setsid() < 0) throw_errno("setsid", "");
  drop_capabilities();
  install_seccomp_filter();
}

}  // namespace

std::string image_hostname(const RootDir& root) {
  // Only a small regular file is read: an untrusted image could make it a
  // FIFO or a device. Anything unusable gives "localhost", never the host's name.
  constexpr const char* kFallback = "localhost";
  auto st = root.lstat("/etc/hostname");
  if (!st || !S_ISREG(st->st_mode) || st->st_size > 4096) return kFallback;
  std::string text = root.read_file("/etc/hostname").value_or("");
  std::string name;
  std::istringstream lines(text);
  for (std::string line; name.empty() && std::getline(lines, line);) {
    auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    name = line.substr(b, line.find_last_not_of(" \t\r") - b + 1);
  }
  // The kernel's limit (HOST_NAME_MAX) and printable characters only.
  if (name.empty() || name.size() > 64 ||
      std::any_of(name.begin(), name.end(), [](unsigned char c) { return c <= ' ' || c >= 0x7f; })) {
    return kFallback;
  }
  return name;
}

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
  // Checked first: otherwise the first write (policy-rc.d) fails with a bare
  // EROFS that does not say why.
  struct statvfs sv;
  if (::statvfs(root.path().c_str(), &sv) == 0 && (sv.f_flag & ST_RDONLY) != 0) {
    throw Error(ErrorKind::Usage,
                fmt::format("cannot run '{}' in the image: it is mounted read-only (read_only = true is for "
                            "inspection); mount it writable to run commands",
                            opts.secret_args || argv.empty() ? std::string("a command") : argv[0]));
  }
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
  std::string hostname = image_hostname(root);
  ro.child_setup = [root_path, &binds, &opts, hostname] { child_enter(root_path, binds, opts.devices, hostname); };
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
