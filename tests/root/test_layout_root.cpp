// fs/mount_map (partition devices of an attached disk mounted as a new root,
// FAT staged) and fs/os_copy (an OS tree copied with everything that makes
// it an OS: owners, modes, times, hard links, devices, holes, ACLs, xattrs).
#include <doctest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "host/disk/disk_file.hpp"
#include "host/disk/partitioner.hpp"
#include "host/disk/whole_disk.hpp"
#include "host/system/process.hpp"
#include "host/fs/mkfs.hpp"
#include "host/fs/mount_map.hpp"
#include "host/fs/os_copy.hpp"
#include "host/system/cleanup.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

std::string out_of(const std::vector<std::string>& argv) {
  RunOptions o;
  o.capture_stdout = true;
  return run_checked(argv, o).out;
}

// Mount points at or below `dir`, from findmnt.
std::string mounts_below(const std::string& dir) {
  RunOptions o;
  o.capture_stdout = true;
  std::string all = run({"findmnt", "-rn", "-o", "TARGET"}, o).out, out;
  std::istringstream in(all);
  for (std::string line; std::getline(in, line);)
    if (line == dir || line.starts_with(dir + "/")) out += line + "\n";
  return out;
}

// A 72 MiB GPT disk: esp 8 MiB (vfat), root 32 MiB (ext4), var to the end (ext4).
std::string layout_disk(const TempDir& dir) {
  auto d = DiskFile::create(dir / "disk.raw", 72 * MiB);
  d->keep();
  DiskLayout l;
  PartitionSpec esp, root, var;
  esp.id = "esp";
  esp.type = "esp";
  esp.size = 8 * MiB;
  root.id = "root";
  root.type = "root";
  root.size = 32 * MiB;
  var.id = "var";
  var.type = "var";
  var.grow = true;
  l.partitions = {esp, root, var};
  write_partition_table(d->path(), l, TargetArch::X86_64);
  return d->path();
}

std::string xattr(const std::string& path, const char* name) {
  char buf[256];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

TEST_CASE("mount_map: partitions at chosen paths in path order, FAT staged, written on release") {
  TempDir dir;
  const std::string disk = layout_disk(dir);
  auto wd = WholeDisk::attach(disk, false);
  MkfsOptions fat, ext;
  fat.type = FsType::Vfat;
  fat.label = "ESP";
  make_filesystem({wd->partition_device(1), 0, 0}, fat);
  make_filesystem({wd->partition_device(2), 0, 0}, ext);
  make_filesystem({wd->partition_device(3), 0, 0}, ext);
  const std::string root = dir / "root";
  {
    // Given children first: mounted parents first anyway.
    auto m = MountMap::mount(root, dir.path,
                             {{"/var", wd->partition_device(3), "", ""},
                              {"/boot/efi", wd->partition_device(1), "", ""},
                              {"/", wd->partition_device(2), "ext4", ""}},
                             {.stage_fat = true});
    REQUIRE(m->mounts().size() == 3);
    CHECK(m->mounts()[0].path == "/");
    CHECK(m->mounts()[1].path == "/boot/efi");
    CHECK(m->mounts()[1].staged);
    CHECK(m->mounts()[1].fstype == "vfat");
    CHECK(m->mounts()[2].path == "/var");
    CHECK(m->mounts()[2].fstype == "ext4");
    CHECK(mounts_below(root) == fmt::format("{0}\n{0}/boot/efi\n{0}/var\n", root));
    m->root().write_file("/boot/efi/EFI/BOOT/test.cfg", "esp content\n");
    m->root().write_file("/var/lib/x", "var content\n");
    m->root().write_file("/etc/y", "root content\n");
    m->release(true);
    CHECK(mounts_below(root).empty());
  }
  const std::string p1 = wd->partition_device(1);
  CHECK(out_of({"mtype", "-i", p1, "::/EFI/BOOT/test.cfg"}) == "esp content\n");
  CHECK(out_of({"debugfs", "-R", "cat /lib/x", wd->partition_device(3)}) == "var content\n");
  CHECK(out_of({"debugfs", "-R", "cat /etc/y", wd->partition_device(2)}) == "root content\n");
  CHECK(run({"fsck.fat", "-n", p1}).exit_code == 0);
  wd->release();
}

TEST_CASE("mount_map: a mount target is resolved inside the new root; bad maps are usage errors") {
  TempDir dir;
  const std::string disk = layout_disk(dir);
  auto wd = WholeDisk::attach(disk, false);
  MkfsOptions ext;
  make_filesystem({wd->partition_device(2), 0, 0}, ext);
  make_filesystem({wd->partition_device(3), 0, 0}, ext);
  const std::string root = dir / "root";
  const std::string outside = dir / "outside";
  fs::create_directory(outside);
  {
    auto m = MountMap::mount(root, dir.path, {{"/", wd->partition_device(2), "", ""}}, {});
    // An absolute link in the new root: followed on the host it would reach `outside`.
    m->root().symlink(outside, "/srv");
    m->release(true);
  }
  // Its target does not exist inside the new root: refused, nothing mounted anywhere.
  CHECK_THROWS_AS(MountMap::mount(root, dir.path,
                                  {{"/", wd->partition_device(2), "", ""}, {"/srv", wd->partition_device(3), "", ""}},
                                  {}),
                  Error);
  CHECK(mounts_below(outside).empty());
  CHECK(mounts_below(root).empty());
  {
    auto m = MountMap::mount(root, dir.path, {{"/", wd->partition_device(2), "", ""}}, {});
    m->root().mkdirs(outside);
    m->release(true);
  }
  {
    auto m = MountMap::mount(root, dir.path,
                             {{"/", wd->partition_device(2), "", ""}, {"/srv", wd->partition_device(3), "", ""}}, {});
    CHECK(mounts_below(outside).empty());
    CHECK(mounts_below(root) == fmt::format("{0}\n{0}{1}\n", root, outside));
    m->release(false);
  }
  CHECK(mounts_below(root).empty());
  CHECK_THROWS_WITH_AS(MountMap::mount(root, dir.path, {{"var", wd->partition_device(3), "", ""}}, {}),
                       doctest::Contains("'var': the mount path must be absolute"), Error);
  CHECK_THROWS_WITH_AS(MountMap::mount(root, dir.path,
                                       {{"/", wd->partition_device(2), "", ""}, {"/", wd->partition_device(3), "", ""}},
                                       {}),
                       doctest::Contains("'/': mounted twice"), Error);
  CHECK_THROWS_WITH_AS(MountMap::mount(root, dir.path, {{"/", dir / "disk.raw", "", ""}}, {}),
                       doctest::Contains("is not a block device"), Error);
  CHECK_THROWS_WITH_AS(MountMap::mount(root, dir.path, {{"/", wd->partition_device(1), "", ""}}, {}),
                       doctest::Contains("no filesystem found"), Error);
  // A failure half way releases what was mounted.
  CHECK_THROWS_AS(MountMap::mount(root, dir.path,
                                  {{"/", wd->partition_device(2), "", ""}, {"/boot", wd->partition_device(1), "", ""}},
                                  {}),
                  Error);
  CHECK(mounts_below(root).empty());
  wd->release();
}

TEST_CASE("os_copy: owners, modes, times, hard links, symlinks, devices, holes, ACLs and xattrs survive") {
  TempDir dir;
  const std::string src = dir / "src", dst = dir / "dst";
  fs::create_directories(src + "/etc");
  fs::create_directories(src + "/mnt");
  fs::create_directories(dst);
  write_file(src + "/etc/a", "linked\n");
  REQUIRE(::link((src + "/etc/a").c_str(), (src + "/etc/b").c_str()) == 0);
  REQUIRE(::symlink("../etc/a", (src + "/etc/link").c_str()) == 0);
  REQUIRE(::mknod((src + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
  REQUIRE(::chown((src + "/etc/a").c_str(), 1234, 5678) == 0);
  REQUIRE(::chmod((src + "/etc/a").c_str(), 04750) == 0);
  REQUIRE(::lchown((src + "/etc/link").c_str(), 42, 43) == 0);
  {
    std::ofstream f(src + "/sparse", std::ios::binary);
    f.seekp(64 * MiB);
    f << "end";
  }
  REQUIRE(::lsetxattr((src + "/etc/a").c_str(), "user.x", "1", 1, 0) == 0);
  const std::string label = "system_u:object_r:etc_t:s0";
  const bool selinux_xattr =
      ::lsetxattr((src + "/etc/b").c_str(), "security.selinux", label.data(), label.size(), 0) == 0;
  run_checked({"setfacl", "-m", "u:4321:rw", src + "/etc/a"});
  const timespec times[2] = {{1000000000, 0}, {1000000000, 123456789}};
  REQUIRE(::utimensat(AT_FDCWD, (src + "/etc/a").c_str(), times, 0) == 0);
  REQUIRE(::utimensat(AT_FDCWD, (src + "/etc").c_str(), times, 0) == 0);
  // A filesystem mounted under the source (an image's /var): copied across.
  REQUIRE(::mount("tmpfs", (src + "/mnt").c_str(), "tmpfs", 0, "size=1m") == 0);
  write_file(src + "/mnt/on-other-fs", "x\n");

  copy_os_tree(src, dst);
  REQUIRE(::umount((src + "/mnt").c_str()) == 0);

  struct stat a = lstat_of(dst + "/etc/a"), b = lstat_of(dst + "/etc/b");
  CHECK(a.st_ino == b.st_ino);
  CHECK(a.st_nlink == 2);
  CHECK(a.st_uid == 1234);
  CHECK(a.st_gid == 5678);
  CHECK(a.st_mode == lstat_of(src + "/etc/a").st_mode);
  CHECK((a.st_mode & 04000) != 0);
  CHECK(a.st_mtim.tv_sec == 1000000000);
  CHECK(a.st_mtim.tv_nsec == 123456789);
  CHECK(lstat_of(dst + "/etc").st_mtim.tv_nsec == 123456789);
  CHECK(fs::read_symlink(dst + "/etc/link") == "../etc/a");
  CHECK(lstat_of(dst + "/etc/link").st_uid == 42);
  struct stat n = lstat_of(dst + "/null");
  CHECK(S_ISCHR(n.st_mode));
  CHECK(n.st_rdev == makedev(1, 3));
  CHECK(lstat_of(dst + "/sparse").st_size == static_cast<off_t>(64 * MiB + 3));
  CHECK(allocated(dst + "/sparse") < 1 * MiB);
  CHECK(xattr(dst + "/etc/a", "user.x") == "1");
  if (selinux_xattr) CHECK(xattr(dst + "/etc/a", "security.selinux") == label);
  else MESSAGE("security.selinux xattrs cannot be set here: not checked");
  CHECK(out_of({"getfacl", "-cp", dst + "/etc/a"}).find("user:4321:rw-") != std::string::npos);
  CHECK(read_file(dst + "/mnt/on-other-fs") == "x\n");
}

TEST_CASE("os_copy: refused when host kernel filesystems are mounted in the source, or the roots overlap") {
  TempDir dir;
  const std::string src = dir / "src", dst = dir / "dst";
  fs::create_directories(src + "/proc");
  fs::create_directories(dst);
  CHECK_THROWS_WITH_AS(copy_os_tree(src, src + "/proc"), doctest::Contains("overlap"), Error);
  REQUIRE(::mount("proc", (src + "/proc").c_str(), "proc", 0, nullptr) == 0);
  CHECK_THROWS_WITH_AS(copy_os_tree(src, dst), doctest::Contains("proc is mounted at"), Error);
  REQUIRE(::umount((src + "/proc").c_str()) == 0);
  CHECK(fs::is_empty(dst));
  copy_os_tree(src, dst);
  CHECK(fs::is_directory(dst + "/proc"));
}
