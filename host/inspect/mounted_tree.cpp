// Filesystems that can only be read by mounting (xfs, btrfs): a read-only
// loop device over the filesystem's byte range, mounted read-only without
// log replay in the private mount namespace the caller entered, read through
// RootDir (openat2 RESOLVE_IN_ROOT). Root only.
#include <sys/stat.h>

#include "host/disk/loop.hpp"
#include "host/fs/mount.hpp"
#include "host/fs/root_dir.hpp"
#include "host/inspect/tree.hpp"
#include "host/system/error.hpp"

namespace imgrecipe::inspect {
namespace {

class MountedTree : public Tree {
 public:
  MountedTree(const std::string& image, std::uint64_t offset, std::uint64_t size, const std::string& fstype,
              const std::string& dir) {
    if (::mkdir(dir.c_str(), 0700) != 0) throw_system("create", dir, errno);
    loop_ = LoopDevice::attach(image, offset, size, /*read_only=*/true);
    // Never write: no journal/log replay on a dirty filesystem.
    const std::string opts = fstype == "xfs" ? "ro,norecovery" : fstype == "btrfs" ? "ro,rescue=nologreplay" : "ro";
    mount_ = Mount::mount(loop_->path(), dir, fstype, opts);
    root_ = std::make_unique<RootDir>(dir);
  }
  ~MountedTree() override {
    root_.reset();
    try {
      if (mount_) mount_->unmount();
      if (loop_) loop_->detach();
    } catch (...) {
      // Left to the teardown stack and the loop device's autoclear.
    }
  }

  Stat lstat(const std::string& path) override {
    auto st = root_->lstat(path);
    if (!st) return {};
    Stat s;
    s.size = static_cast<std::uint64_t>(st->st_size);
    if (S_ISREG(st->st_mode)) s.kind = Stat::Kind::File;
    else if (S_ISDIR(st->st_mode)) s.kind = Stat::Kind::Dir;
    else if (S_ISLNK(st->st_mode)) {
      s.kind = Stat::Kind::Link;
      s.target = root_->read_link(path).value_or("");
    } else s.kind = Stat::Kind::Other;
    return s;
  }
  std::optional<std::string> read(const std::string& path) override { return root_->read_file(path); }
  std::vector<std::string> list(const std::string& dir) override { return root_->list_dir(dir).value_or(std::vector<std::string>{}); }

 private:
  std::unique_ptr<LoopDevice> loop_;
  std::unique_ptr<Mount> mount_;
  std::unique_ptr<RootDir> root_;
};

}  // namespace

std::unique_ptr<Tree> mounted_tree(const std::string& image, std::uint64_t offset, std::uint64_t size,
                                   const std::string& fstype, const std::string& dir) {
  return std::make_unique<MountedTree>(image, offset, size, fstype, dir);
}

}  // namespace imgrecipe::inspect
