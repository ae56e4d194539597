#include "host/media/dir_output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "host/fs/mkfs.hpp"
#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/owner_lock.hpp"
#include "host/system/process.hpp"
#include "host/system/tool_output.hpp"
#include "host/system/unique_fd.hpp"
#include "host/system/workspace.hpp"

namespace imgrecipe {
namespace {

namespace fs = std::filesystem;

void fsync_path(const std::string& path, int flags) {
  UniqueFd fd = open_or_throw(path, flags);
  if (::fsync(fd.get()) != 0) throw_errno("fsync", path);
}

std::string normal_target(const std::string& out) {
  if (out.empty()) throw_usage("output path is empty");
  fs::path target = fs::absolute(out).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  return target.string();
}

}  // namespace

void check_dir_output(const std::string& out) {
  std::string target = normal_target(out);
  struct stat st;
  if (::lstat(target.c_str(), &st) != 0) {
    if (errno != ENOENT) throw_errno("stat", target);
    if (!fs::is_directory(fs::path(target).parent_path()))
      throw_usage(fmt::format("output {}: its directory {} does not exist", out, fs::path(target).parent_path().string()));
    return;
  }
  if (!S_ISDIR(st.st_mode)) throw_usage(fmt::format("output {} exists and is not a directory", out));
  std::error_code ec;
  if (!fs::is_empty(target, ec) || ec)
    throw_usage(fmt::format("output directory {} exists and is not empty: the output tree replaces the directory "
                            "atomically and never merges into one; remove it or choose another path",
                            out));
}

DirOutput::DirOutput(const std::string& out) {
  check_dir_output(out);
  out_ = normal_target(out);
  fault::point("create output", out_);
  // Locked for the whole run: a later run removes it only once this process
  // is gone, even after SIGKILL.
  owned_ = std::make_unique<OwnedTempDir>(out_);
  tmp_ = owned_->path();
  entry_ = TeardownEntry("remove temporary output directory " + tmp_, [this] { discard(); });
}

DirOutput::~DirOutput() { discard(); }

void DirOutput::mkdir(const std::string& rel) {
  fs::path r = fs::path(rel).lexically_normal();
  if (rel.empty() || r.is_absolute() || *r.begin() == "..")
    throw_usage(fmt::format("output directory: '{}' is not a relative path inside the tree", rel));
  if (done_) throw_usage("output directory: already committed or discarded");
  fault::point("mkdir", (fs::path(tmp_) / r).string());
  std::error_code ec;
  fs::create_directories(fs::path(tmp_) / r, ec);
  if (ec) throw_system("create directory", (fs::path(tmp_) / r).string(), ec.value());
}

void DirOutput::chmod(const std::string& rel, unsigned mode) {
  fs::path r = fs::path(rel).lexically_normal();
  if (rel.empty() || r.is_absolute() || *r.begin() == "..")
    throw_usage(fmt::format("output directory: '{}' is not a relative path inside the tree", rel));
  if (done_) throw_usage("output directory: already committed or discarded");
  std::string p = (fs::path(tmp_) / r).string();
  fault::point("chmod", p);
  // The tree is ours, but a symbolic link in it must not redirect the chmod.
  if (::fchmodat(AT_FDCWD, p.c_str(), mode & 07777, AT_SYMLINK_NOFOLLOW) != 0) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
      throw_usage(fmt::format("output directory: {} is a symbolic link", rel));
    if (::chmod(p.c_str(), mode & 07777) != 0) throw_errno("chmod", p);
  }
}

void DirOutput::commit() {
  fault::point("commit output", out_);
  check_dir_output(out_);
  mode_t mask = ::umask(0);
  ::umask(mask);
  if (::chmod(tmp_.c_str(), 0777 & ~mask) != 0) throw_errno("chmod", tmp_);
  for (const auto& e : fs::recursive_directory_iterator(tmp_)) {
    if (e.is_symlink()) continue;
    fsync_path(e.path().string(), e.is_directory() ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  }
  fsync_path(tmp_, O_RDONLY | O_DIRECTORY);
  // rename(2) replaces an empty directory and fails on a non-empty one.
  if (::rename(tmp_.c_str(), out_.c_str()) != 0) throw_errno("rename into place", out_);
  done_ = true;
  entry_.dismiss();
  fsync_path(fs::path(out_).parent_path().string(), O_RDONLY | O_DIRECTORY);
}

void DirOutput::discard() noexcept {
  if (done_) return;
  done_ = true;
  entry_.dismiss();
  if (tmp_.empty()) return;
  try {
    remove_tree_one_fs(tmp_);
  } catch (...) {
  }
}

void tar_gz_dir(const std::string& dir, const std::string& out) {
  require_tool("tar", "tar");
  require_tool("gzip", "gzip");
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw_usage(fmt::format("tar: {} is not a directory", dir));
  ToolOutput output(out);
  RunOptions o;
  o.step = "tar";
  run_checked({"tar", "--create", "--gzip", "--sort=name", "--numeric-owner", "--format=gnu", "--file", output.tmp(),
               "--directory", dir, "."},
              o);
  output.commit();
}

}  // namespace imgrecipe
