// disk/whole_disk and fs/mkfs on loop devices: partitions added with BLKPG
// appear as block devices of the right size at the right offset, and
// nothing is left after release.
#include <doctest.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "host/disk/disk_file.hpp"
#include "host/disk/loop.hpp"
#include "host/disk/partitioner.hpp"
#include "host/disk/whole_disk.hpp"
#include "host/system/process.hpp"
#include "host/fs/mkfs.hpp"
#include "host/fs/mount.hpp"
#include "host/fs/fat_stage.hpp"
#include "host/fs/fs_uuid.hpp"
#include "host/fs/shrink.hpp"
#include "host/disk/probe.hpp"
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

int exit_of(const std::vector<std::string>& argv) {
  RunOptions o;
  o.capture_stdout = true;
  return run(argv, o).exit_code;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::uint64_t blockdev_size(const std::string& dev) {
  int fd = ::open(dev.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::uint64_t size = 0;
  CHECK(ioctl(fd, BLKGETSIZE64, &size) == 0);
  ::close(fd);
  return size;
}

bool is_block(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

// Whether any loop device is backed by `file` (losetup's view).
bool loop_attached(const std::string& file) {
  return out_of({"losetup", "-j", file}).find(file) != std::string::npos;
}

std::string sysfs(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// A 96 MiB GPT disk: esp 8 MiB, root 40 MiB, data to the end.
std::string make_disk(const TempDir& dir) {
  auto d = DiskFile::create(dir / "disk.raw", 96 * MiB);
  d->keep();
  DiskLayout l;
  PartitionSpec esp, root, data;
  esp.id = "esp";
  esp.type = "esp";
  esp.size = 8 * MiB;
  root.id = "root";
  root.type = "root";
  root.size = 40 * MiB;
  data.id = "data";
  data.grow = true;
  l.partitions = {esp, root, data};
  write_partition_table(d->path(), l, TargetArch::X86_64);
  return d->path();
}

// A GPT disk with partitions of these sizes.
std::string gpt_disk(const TempDir& dir, std::vector<std::uint64_t> sizes, std::uint64_t disk_size) {
  auto d = DiskFile::create(dir / "disk.raw", disk_size);
  d->keep();
  DiskLayout l;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    PartitionSpec p;
    p.id = "p" + std::to_string(i + 1);
    p.size = sizes[i];
    l.partitions.push_back(p);
  }
  write_partition_table(d->path(), l, TargetArch::X86_64);
  return d->path();
}

}  // namespace

TEST_CASE("whole_disk: partitions appear as block devices at the right place; nothing left after release") {
  TempDir dir;
  const std::string disk = make_disk(dir);
  std::string loop;
  {
    auto wd = WholeDisk::attach(disk, false);
    loop = wd->device();
    CHECK(is_block(loop));
    const std::string name = loop.substr(5);
    REQUIRE(wd->table().partitions.size() == 3);
    for (const auto& p : wd->table().partitions) {
      const std::string dev = wd->partition_device(p.number);
      CHECK(dev == fmt::format("{}p{}", loop, p.number));
      REQUIRE(is_block(dev));
      CHECK(blockdev_size(dev) == p.size);
      CHECK(std::stoull(sysfs(fmt::format("/sys/block/{0}/{0}p{1}/start", name, p.number))) * 512 == p.start);
    }
    CHECK_THROWS_AS(wd->partition_device(4), Error);
    // A whole-disk tool sees the table through the device.
    std::string dump = out_of({"sfdisk", "-d", loop});
    CHECK(dump.find(fmt::format("{}p2 : start=       18432, size=       81920, type=4F68BCE3", loop)) !=
          std::string::npos);

    // A filesystem made on a partition device is at its offset in the file.
    const auto& root = wd->table().partitions[1];
    MkfsOptions o;
    o.label = "viablk";
    make_filesystem({wd->partition_device(2), 0, 0}, o);
    fs::create_directory(dir / "mnt");
    {
      auto m = Mount::mount(wd->partition_device(2), dir / "mnt", "ext4", "");
      write_file(dir / "mnt/hello", "from the partition device\n");
      // Busy: release refuses and keeps everything.
      CHECK_THROWS_WITH_AS(wd->release(), doctest::Contains("still mounted or open"), Error);
      CHECK(is_block(wd->partition_device(2)));
      m->unmount();
    }
    // FAT on a partition device: mkfs.fat takes the hidden sectors from the kernel.
    MkfsOptions fat;
    fat.type = FsType::Vfat;
    fat.label = "ESP";
    make_filesystem({wd->partition_device(1), 0, 0}, fat);
    run_checked({"sync"});
    wd->release();
    FatInfo fi = read_fat_info(disk, wd->table().partitions[0].start);
    CHECK(fi.fat_bits == 16);
    CHECK(fi.hidden_sectors == wd->table().partitions[0].start / 512);
    CHECK(fi.bytes() == 8 * MiB);
    CHECK(fi.label == "ESP");
    CHECK_FALSE(fs::exists(loop + "p1"));
    CHECK_FALSE(fs::exists(loop + "p2"));
    CHECK_FALSE(fs::exists(fmt::format("/sys/block/{0}/{0}p1", name)));
    CHECK_FALSE(loop_attached(disk));
    CHECK(trim(out_of({"blkid", "--probe", "--offset", std::to_string(root.start), "-s", "LABEL", "-o", "value",
                       disk})) == "viablk");
    const std::string spec = disk + "?offset=" + std::to_string(root.start);
    CHECK(exit_of({"e2fsck", "-fn", spec}) == 0);
    CHECK(out_of({"debugfs", "-R", "cat /hello", spec}) == "from the partition device\n");
  }
  CHECK_FALSE(loop_attached(disk));
}

TEST_CASE("whole_disk: the teardown stack releases a disk that was not released") {
  TempDir dir;
  const std::string disk = make_disk(dir);
  auto wd = WholeDisk::attach(disk, true);
  const std::string loop = wd->device();
  CHECK(is_block(loop + "p3"));
  CHECK(loop_attached(disk));
  teardown().release_all();
  CHECK_FALSE(fs::exists(loop + "p3"));
  CHECK_FALSE(fs::exists(fmt::format("/sys/block/{0}/{0}p3", loop.substr(5))));
  CHECK_FALSE(loop_attached(disk));
  wd.reset();  // releasing again is harmless
  CHECK_FALSE(loop_attached(disk));
}

TEST_CASE("mkfs: xfs and btrfs (with subvolumes) in regions of a disk file, through a loop device") {
  TempDir dir;
  auto d = DiskFile::create(dir / "disk.raw", 700 * MiB);
  d->keep();
  DiskLayout l;
  PartitionSpec var, home;
  var.id = "var";
  var.type = "var";
  var.size = 320 * MiB;
  home.id = "home";
  home.type = "home";
  home.grow = true;
  l.partitions = {var, home};
  PartitionTable t = write_partition_table(d->path(), l, TargetArch::X86_64);
  const auto& pv = t.partitions[0];
  const auto& ph = t.partitions[1];

  MkfsOptions o;
  o.type = FsType::Xfs;
  o.label = "var";
  make_filesystem({d->path(), pv.start, pv.size}, o);
  o.type = FsType::Btrfs;
  o.label = "home";
  o.btrfs_subvolumes = {{"@home", 0, 0}, {"@home/snapshots", 0, 0}, {"data/@srv", 64 * MiB, 32 * MiB}};
  o.work_dir = dir / "work";
  make_filesystem({d->path(), ph.start, ph.size}, o);
  CHECK_FALSE(loop_attached(d->path()));
  CHECK(exit_of({"sfdisk", "--verify", d->path()}) == 0);

  auto blk = [&](std::uint64_t off, const char* tag) {
    return trim(out_of({"blkid", "--probe", "--offset", std::to_string(off), "-s", tag, "-o", "value", d->path()}));
  };
  CHECK(blk(pv.start, "TYPE") == "xfs");
  CHECK(blk(pv.start, "LABEL") == "var");
  CHECK(blk(ph.start, "TYPE") == "btrfs");
  CHECK(blk(ph.start, "LABEL") == "home");
  {
    auto lv = LoopDevice::attach(d->path(), pv.start, pv.size, true);
    CHECK(exit_of({"xfs_repair", "-n", lv->path()}) == 0);
    CHECK(blockdev_size(lv->path()) == pv.size);
  }
  {
    auto lb = LoopDevice::attach(d->path(), ph.start, ph.size, false);
    CHECK(exit_of({"btrfs", "check", "--readonly", lb->path()}) == 0);
    fs::create_directory(dir / "m");
    auto m = Mount::mount(lb->path(), dir / "m", "btrfs", "ro");
    std::string list = out_of({"btrfs", "subvolume", "list", dir / "m"});
    CHECK(list.find("path @home\n") != std::string::npos);
    CHECK(list.find("path @home/snapshots\n") != std::string::npos);
    CHECK(list.find("path data/@srv\n") != std::string::npos);
    CHECK(fs::is_directory(dir / "m/data"));
    // qgroup show: id, referenced, exclusive, max referenced, max exclusive, path
    std::istringstream q(out_of({"btrfs", "qgroup", "show", "-re", "--raw", dir / "m"}));
    std::map<std::string, std::pair<std::string, std::string>> limits;
    for (std::string line; std::getline(q, line);) {
      std::istringstream f(line);
      std::string id, rfer, excl, max_rfer, max_excl, path;
      if (f >> id >> rfer >> excl >> max_rfer >> max_excl >> path) limits[path] = {max_rfer, max_excl};
    }
    CHECK(limits["data/@srv"] ==
          std::pair<std::string, std::string>{std::to_string(64 * MiB), std::to_string(32 * MiB)});
    CHECK(limits["@home"] == std::pair<std::string, std::string>{"none", "none"});
    m->unmount();
  }
  CHECK_FALSE(loop_attached(d->path()));
  CHECK(fs::is_empty(dir / "work"));  // unmounted

  // New UUIDs in the regions (through loop devices).
  const std::string xo = blk(pv.start, "UUID"), bo = blk(ph.start, "UUID");
  CHECK(reset_filesystem_uuid(d->path(), pv.start, pv.size) != xo);
  CHECK(reset_filesystem_uuid(d->path(), ph.start, ph.size, "0badc0de-0000-4000-8000-0000000000b7") ==
        "0badc0de-0000-4000-8000-0000000000b7");
  CHECK(blk(ph.start, "UUID") != bo);
  CHECK(blk(pv.start, "LABEL") == "var");
  CHECK(blk(ph.start, "LABEL") == "home");
  CHECK_FALSE(loop_attached(d->path()));
  {
    auto lv = LoopDevice::attach(d->path(), pv.start, pv.size, true);
    CHECK(exit_of({"xfs_repair", "-n", lv->path()}) == 0);
    auto lb = LoopDevice::attach(d->path(), ph.start, ph.size, true);
    CHECK(exit_of({"btrfs", "check", "--readonly", lb->path()}) == 0);
  }
  CHECK(exit_of({"sfdisk", "--verify", d->path()}) == 0);
}

TEST_CASE("whole_disk: partitions a killed run left on the loop device are replaced") {
  TempDir dir;
  const std::string old_disk = make_disk(dir);  // 3 partitions
  auto d = DiskFile::create(dir / "new.raw", 32 * MiB);
  d->keep();
  DiskLayout l;
  PartitionSpec only;
  only.id = "only";
  only.start = 4 * MiB;
  only.size = 16 * MiB;
  l.partitions = {only};
  write_partition_table(d->path(), l, TargetArch::X86_64);

  // Loop devices are shared with other processes: retry until the new disk
  // lands on the device the stale partitions are on.
  bool exercised = false;
  for (int attempt = 0; attempt < 5 && !exercised; ++attempt) {
    std::string stale_loop;
    {
      auto lo = LoopDevice::attach(old_disk, 0, 0, true);
      stale_loop = lo->path();
      run_checked({"partx", "-a", stale_loop});  // as a run killed after adding its partitions
      CHECK(is_block(stale_loop + "p3"));
    }
    // The kernel keeps them on the detached device.
    const std::string name = stale_loop.substr(5);
    CHECK(fs::exists(fmt::format("/sys/block/{0}/{0}p3", name)));
    auto wd = WholeDisk::attach(d->path(), true);
    if (wd->device() == stale_loop) {
      exercised = true;
      CHECK(blockdev_size(stale_loop + "p1") == 16 * MiB);
      CHECK(sysfs(fmt::format("/sys/block/{0}/{0}p1/start", name)) == std::to_string(4 * MiB / 512));
      CHECK_FALSE(fs::exists(fmt::format("/sys/block/{0}/{0}p2", name)));
      CHECK_FALSE(fs::exists(stale_loop + "p3"));
    } else {
      run({"partx", "-d", stale_loop});  // ours: remove it
    }
    wd->release();
    CHECK_FALSE(fs::exists(fmt::format("/sys/block/{0}/{0}p1", wd->device().substr(5))));
    CHECK_FALSE(loop_attached(d->path()));
  }
  CHECK(exercised);
}

TEST_CASE("shrink: ext4 to its minimum, the partition end with it, data intact") {
  TempDir dir;
  const std::string disk = gpt_disk(dir, {8 * MiB, 120 * MiB, 8 * MiB}, 140 * MiB);
  PartitionTable t = read_partition_table(disk);
  const Partition p = t.partitions[1];
  MkfsOptions o;
  o.label = "shrinkme";
  make_filesystem({disk, p.start, p.size}, o);
  const std::string spec = disk + "?offset=" + std::to_string(p.start);
  write_file(dir / "payload", std::string(3 * MiB, 'x') + "end\n");
  run_checked({"debugfs", "-w", "-R", "write " + (dir / "payload") + " payload", spec});

  ShrinkResult r = shrink_ext_partition(disk, 2);
  CHECK(r.old_size == 120 * MiB);
  CHECK(r.new_size < 40 * MiB);
  CHECK(r.new_size > 3 * MiB);
  PartitionTable after = read_partition_table(disk);
  CHECK(after.partitions[1].start == p.start);
  CHECK(after.partitions[1].size == r.new_size);
  CHECK(after.partitions[1].uuid == p.uuid);
  CHECK(after.partitions[2].start == t.partitions[2].start);  // nothing else moved
  CHECK(exit_of({"e2fsck", "-fn", spec}) == 0);
  std::string header = out_of({"dumpe2fs", "-h", spec});
  CHECK(header.find(fmt::format("Block count:              {}\n", r.new_size / 4096)) != std::string::npos);
  CHECK(out_of({"debugfs", "-R", "cat payload", spec}) == std::string(3 * MiB, 'x') + "end\n");
  CHECK(probe_filesystem(disk, p.start, r.new_size).label == "shrinkme");
  CHECK(exit_of({"sfdisk", "--verify", disk}) == 0);
  CHECK(fs::file_size(disk) == 140 * MiB);  // resize2fs did not truncate the image
  CHECK_FALSE(loop_attached(disk));

  // Already minimal: a second shrink changes (almost) nothing and stays clean.
  ShrinkResult again = shrink_ext_partition(disk, 2);
  CHECK(again.new_size <= r.new_size);
  CHECK(exit_of({"e2fsck", "-fn", spec}) == 0);

  MkfsOptions v;
  v.type = FsType::Vfat;
  make_filesystem({disk, t.partitions[0].start, t.partitions[0].size}, v);
  CHECK_THROWS_WITH_AS(shrink_ext_partition(disk, 1), doctest::Contains("only ext2/3/4 can be shrunk, it holds vfat"),
                       Error);
  CHECK_THROWS_WITH_AS(shrink_ext_partition(disk, 3), doctest::Contains("it holds no filesystem"), Error);
}

TEST_CASE("whole_disk: an MBR disk's partitions appear too") {
  TempDir dir;
  auto d = DiskFile::create(dir / "mbr.raw", 48 * MiB);
  d->keep();
  DiskLayout l;
  l.table = TableType::Mbr;
  PartitionSpec boot, root;
  boot.id = "boot";
  boot.size = 16 * MiB;
  boot.bootable = true;
  root.id = "root";
  root.grow = true;
  l.partitions = {boot, root};
  write_partition_table(d->path(), l, TargetArch::X86_64);
  auto wd = WholeDisk::attach(d->path(), false);
  CHECK(blockdev_size(wd->partition_device(1)) == 16 * MiB);
  CHECK(blockdev_size(wd->partition_device(2)) == 31 * MiB);
  MkfsOptions o;
  o.type = FsType::Xfs;
  CHECK_THROWS_AS(make_filesystem({wd->partition_device(2), 0, 0}, o), Error);  // too small for xfs: a clear error
  o.type = FsType::Ext4;
  make_filesystem({wd->partition_device(2), 0, 0}, o);
  const std::string loop = wd->device();
  wd->release();
  CHECK_FALSE(fs::exists(loop + "p2"));
  CHECK(trim(out_of({"blkid", "--probe", "--offset", std::to_string(17 * MiB), "-s", "TYPE", "-o", "value",
                     d->path()})) == "ext4");
  CHECK_FALSE(loop_attached(d->path()));
}
