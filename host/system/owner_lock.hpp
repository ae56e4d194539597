// Ownership of run leftovers, recorded with flock(2): a run holds a lock on
// each thing it may leave behind (its run directory, its temporary output)
// for its whole life. The kernel drops the lock when the process dies, even
// on SIGKILL, so a later run can tell a killed run's leftovers (lock free)
// from a live concurrent run's (lock held) and remove only the former.
//
// The lock is taken on the path's current inode and checked to still be
// named by the path afterwards; whoever removes a leftover holds its lock
// while removing, so two runs never race on the same name.
#pragma once

#include <optional>
#include <string>

namespace imgrecipe {

class OwnerLock {
 public:
  OwnerLock() = default;
  OwnerLock(OwnerLock&& o) noexcept;
  OwnerLock& operator=(OwnerLock&& o) noexcept;
  OwnerLock(const OwnerLock&) = delete;
  OwnerLock& operator=(const OwnerLock&) = delete;
  ~OwnerLock();

  // Locks `path`, creating it (mode 0600) when `create`. nullopt when
  // another process holds it (or, without `create`, when it is missing).
  static std::optional<OwnerLock> try_lock(const std::string& path, bool create);
  // Locks the existing directory `path` (not followed if a symlink).
  // nullopt when another process holds it or it is missing.
  static std::optional<OwnerLock> try_lock_dir(const std::string& path);

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  // Unlinks the locked file (still held until destruction).
  void unlink();

 private:
  OwnerLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  // Takes `fd` (open on `path`): locks it if free and still named by `path`.
  static std::optional<OwnerLock> lock_fd(const std::string& path, int fd);
  std::string path_;
  int fd_ = -1;
};

// A run's claim on <build-dir>/run-<pid>: the lock file run-<pid>.lock is
// held before the directory exists and released after it is gone, so an
// unlocked lock file always marks a killed run.
class RunClaim {
 public:
  // Waits (up to a few seconds) for a run removing a stale run-<pid> of an
  // earlier process with this pid to finish.
  explicit RunClaim(const std::string& run_dir);
  // Removes the directory's lock file (the directory itself is the caller's).
  void release();

 private:
  std::optional<OwnerLock> lock_;
};

// Removes run-<N> directories (and their lock files) of killed runs in
// `build_dir`: those whose run-<N>.lock nobody holds. Live runs and kept
// directories (no lock file) are left alone. Never crosses a mount.
void remove_stale_runs(const std::string& build_dir);

// A temporary file `.<name>.tmp-XXXXXX` beside `target`, created and locked
// for as long as this object lives. First removes such files of killed runs
// (unlocked) for the same target. The caller renames or removes it.
class OwnedTempFile {
 public:
  explicit OwnedTempFile(const std::string& target);
  const std::string& path() const { return lock_.path(); }
  // A new descriptor of the file (the caller closes it; the lock stays).
  int dup_fd() const;

 private:
  OwnerLock lock_;
};

// A temporary directory `.<name>.tmp-XXXXXX` beside `target` (a directory
// output such as a PXE tree), created and locked for as long as this object
// lives. First removes such directories of killed runs (unlocked) for the
// same target. The caller renames or removes it.
class OwnedTempDir {
 public:
  explicit OwnedTempDir(const std::string& target);
  const std::string& path() const { return lock_.path(); }

 private:
  OwnerLock lock_;
};

}  // namespace imgrecipe
