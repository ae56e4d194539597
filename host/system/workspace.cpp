#include "host/system/workspace.hpp"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/log.hpp"

namespace imgrecipe {
namespace {

int g_skipped = 0;
bool g_keep_root = false;

int remove_entry(const char* path, const struct stat* st, int type, FTW* ftw) {
  (void)st;
  if (g_keep_root && ftw->level == 0) return 0;
  int rc = (type == FTW_DP) ? ::rmdir(path) : ::unlink(path);
  if (rc != 0 && errno != ENOENT) {
    // A mount point (FTW_MOUNT skipped its content) cannot be removed.
    log::warn("cannot remove {}: {}", path, std::strerror(errno));
    ++g_skipped;
  }
  return 0;
}

}  // namespace

void remove_tree_one_fs(const std::string& path, bool keep_root) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  g_skipped = 0;
  g_keep_root = keep_root;
  if (nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0) throw_errno("remove", path);
  if (g_skipped > 0) log::warn("{} entries under {} could not be removed", g_skipped, path);
}

namespace {
bool g_keeping = false;
}  // namespace

bool keeping_working_files() { return g_keeping; }

Workspace::Workspace(const std::string& build_dir, bool keep) : keep_(keep) {
  g_keeping = g_keeping || keep;
  struct stat st;
  if (::stat(build_dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    throw_system("use as build directory", build_dir, ENOTDIR);
  }
  std::error_code ec;
  std::filesystem::create_directories(build_dir, ec);
  if (ec) throw_system("create build directory", build_dir, ec.value());
  char buf[PATH_MAX];
  if (::realpath(build_dir.c_str(), buf) == nullptr) throw_errno("resolve build dir", build_dir);
  build_dir_ = buf;
  path_ = fmt::format("{}/run-{}", build_dir_, getpid());
  // The lock exists before the directory and goes after it.
  claim_.emplace(path_);
  remove_tree_one_fs(path_);  // a stale directory of an earlier run with this pid
  if (::mkdir(path_.c_str(), 0700) != 0) throw_errno("create run directory", path_);
  entry_ = TeardownEntry("run directory " + path_, [this] { finish(); });
  try {
    remove_stale_runs(build_dir_);
  } catch (const Error& e) {
    log::warn("removing what killed runs left in {}: {}", build_dir_, e.what());
  }
}

void Workspace::finish() {
  if (!claim_) return;
  if (keep_) log::info("kept the build directory {}", path_);
  else remove_tree_one_fs(path_);
  // Without its lock file a kept directory is never taken for stale.
  claim_->release();
  claim_.reset();
}

Workspace::~Workspace() {
  entry_.dismiss();
  try {
    finish();
  } catch (const std::exception& e) {
    log::error("{}", e.what());
  }
}

}  // namespace imgrecipe
