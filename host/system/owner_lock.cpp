#include "host/system/owner_lock.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/workspace.hpp"

namespace imgrecipe {
namespace {

// Names in `dir` for which `want` returns true.
template <typename Pred>
std::vector<std::string> list_names(const std::string& dir, Pred want) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (want(n)) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

OwnerLock::OwnerLock(OwnerLock&& o) noexcept : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)) {}

OwnerLock& OwnerLock::operator=(OwnerLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

OwnerLock::~OwnerLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<OwnerLock> OwnerLock::try_lock_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return std::nullopt;
    throw_errno("open directory to lock", path);
  }
  return lock_fd(path, fd);
}

std::optional<OwnerLock> OwnerLock::lock_fd(const std::string& path, int fd) {
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return std::nullopt;
    throw_system("lock", path, err);
  }
  struct stat held, named;
  if (::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
      held.st_ino == named.st_ino) {
    return OwnerLock(path, fd);
  }
  ::close(fd);
  return std::nullopt;  // removed or replaced by its owner or a cleaner
}

std::optional<OwnerLock> OwnerLock::try_lock(const std::string& path, bool create) {
  // Another process may remove the file between our open and our flock:
  // then the lock is on an orphaned inode and we start over.
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
    if (fd < 0) {
      if (errno == ENOENT && !create) return std::nullopt;
      throw_errno("open lock file", path);
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) return std::nullopt;
      throw_system("lock", path, err);
    }
    struct stat held, named;
    if (::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino) {
      return OwnerLock(path, fd);
    }
    ::close(fd);
    if (!create) return std::nullopt;  // removed by its owner or a cleaner
  }
  throw Error(ErrorKind::System, fmt::format("cannot lock {}: it is replaced again and again", path));
}

void OwnerLock::unlink() {
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) throw_errno("remove", path_);
}

RunClaim::RunClaim(const std::string& run_dir) {
  std::string path = run_dir + ".lock";
  // A cleaner removing a stale directory of an earlier process with our pid
  // holds the lock for as long as the removal takes.
  for (int i = 0; i < 300 && !lock_; ++i) {
    lock_ = OwnerLock::try_lock(path, true);
    if (!lock_) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!lock_) {
    throw Error(ErrorKind::System,
                fmt::format("{} is locked by another process (an imgrecipe with the same pid in another PID "
                            "namespace sharing this build dir?)",
                            path));
  }
}

void RunClaim::release() {
  if (!lock_) return;
  lock_->unlink();
  lock_.reset();
}

void remove_stale_runs(const std::string& build_dir) {
  auto locks = list_names(build_dir, [](const std::string& n) {
    return n.size() > 9 && n.rfind("run-", 0) == 0 && n.compare(n.size() - 5, 5, ".lock") == 0 &&
           all_digits(n.substr(4, n.size() - 9));
  });
  for (const auto& name : locks) {
    std::string lock_path = build_dir + "/" + name;
    auto lock = OwnerLock::try_lock(lock_path, false);
    if (!lock) continue;  // a live run (possibly ourselves)
    std::string dir = lock_path.substr(0, lock_path.size() - 5);
    struct stat st;
    if (::lstat(dir.c_str(), &st) == 0) {
      log::info("removing {} left by a run that was killed", dir);
      remove_tree_one_fs(dir);
    }
    lock->unlink();
  }
}

OwnedTempFile::OwnedTempFile(const std::string& target) {
  std::filesystem::path t(target);
  std::string dir = t.parent_path().string();
  std::string prefix = "." + t.filename().string() + ".tmp-";
  auto stale = list_names(dir, [&](const std::string& n) {
    return n.size() == prefix.size() + 6 && n.compare(0, prefix.size(), prefix) == 0;
  });
  for (const auto& name : stale) {
    auto lock = OwnerLock::try_lock(dir + "/" + name, false);
    if (!lock) continue;
    log::info("removing {}/{} left by a run that was killed", dir, name);
    lock->unlink();
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string tmp = dir + "/" + prefix + "XXXXXX";
    int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) throw_errno("create a temporary output file in", dir);
    ::close(fd);
    // Until it is locked, another run's cleanup may take it for stale and
    // remove it; then try_lock finds it gone and we take a new name.
    if (auto lock = OwnerLock::try_lock(tmp, false)) {
      lock_ = std::move(*lock);
      return;
    }
  }
  throw Error(ErrorKind::System, fmt::format("cannot create a locked temporary output file in {}", dir));
}

OwnedTempDir::OwnedTempDir(const std::string& target) {
  std::filesystem::path t(target);
  std::string dir = t.parent_path().string();
  std::string prefix = "." + t.filename().string() + ".tmp-";
  auto stale = list_names(dir, [&](const std::string& n) {
    return n.size() == prefix.size() + 6 && n.compare(0, prefix.size(), prefix) == 0;
  });
  for (const auto& name : stale) {
    // Held while removing, so a concurrent run never takes it, and a live
    // run's directory (locked) is never touched. Never crosses a mount.
    auto lock = OwnerLock::try_lock_dir(dir + "/" + name);
    if (!lock) continue;
    log::info("removing {}/{} left by a run that was killed", dir, name);
    remove_tree_one_fs(lock->path());
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string tmp = dir + "/" + prefix + "XXXXXX";
    if (::mkdtemp(tmp.data()) == nullptr) throw_errno("create temporary output directory", tmp);
    // Until it is locked, another run's cleanup may take it for stale and
    // remove it; then the lock fails and we take a new name.
    if (auto lock = OwnerLock::try_lock_dir(tmp)) {
      lock_ = std::move(*lock);
      return;
    }
  }
  throw Error(ErrorKind::System, fmt::format("cannot create a locked temporary output directory in {}", dir));
}

int OwnedTempFile::dup_fd() const {
  int fd = ::fcntl(lock_.fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw_errno("dup", path());
  return fd;
}

}  // namespace imgrecipe
