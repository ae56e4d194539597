// The per-run directory inside --build-dir. Removed when the run ends unless
// kept for debugging; removal never crosses into a mounted filesystem, so a
// mount left behind by a bug can never cost data. The run holds a lock on it
// for its whole life (see owner_lock.hpp), and a new workspace first removes
// the directories of runs that were killed (SIGKILL, power loss).
#pragma once

#include <optional>
#include <string>

#include "host/system/cleanup.hpp"
#include "host/system/owner_lock.hpp"

namespace imgrecipe {

class Workspace {
 public:
  Workspace(const std::string& build_dir, bool keep);
  ~Workspace();
  const std::string& build_dir() const { return build_dir_; }
  const std::string& path() const { return path_; }

 private:
  void finish();
  std::string build_dir_, path_;
  bool keep_;
  std::optional<RunClaim> claim_;
  TeardownEntry entry_;
};

// Whether a Workspace of this process keeps its directory (--keep-build-dir):
// its working files must then stay for the user to look at.
bool keeping_working_files();

// rm -rf that stays on the filesystem of `path`: mount points below it are
// left alone (and reported). Missing path is not an error. With `keep_root`,
// only the content of `path` goes.
void remove_tree_one_fs(const std::string& path, bool keep_root = false);

}  // namespace imgrecipe
