// fs/mkfs: pinned argument sets (pure) and real filesystems made on image
// files, read back with the filesystems' own checkers and blkid. No root:
// ext4 and vfat are made in a region of a file, xfs and btrfs on whole files
// (their regions need a loop device: tests/root/test_disk_root.cpp).
#include <doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "host/disk/disk_file.hpp"
#include "host/disk/partitioner.hpp"
#include "host/system/process.hpp"
#include "host/fs/fat_stage.hpp"
#include "host/fs/mkfs.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

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

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string blkid(const std::string& path, std::uint64_t offset, const std::string& tag) {
  return out_of({"blkid", "--probe", "--offset", std::to_string(offset), "-s", tag, "-o", "value", path});
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string new_file(const TempDir& dir, const std::string& name, std::uint64_t size) {
  auto d = DiskFile::create(dir / name, size);
  d->keep();
  return d->path();
}

}  // namespace

TEST_CASE("mkfs: FAT geometry is valid for the size (FAT32 only with its minimum cluster count)") {
  FatGeometry g = fat_geometry(8 * MiB);  // ALIC's smallest ESP
  CHECK(g.fat_bits == 16);
  CHECK(g.sectors_per_cluster == 1);
  CHECK(g.clusters >= 4085);
  CHECK(g.clusters < 65525);
  g = fat_geometry(32 * MiB);
  CHECK(g.fat_bits == 16);
  CHECK(g.clusters < 65525);
  g = fat_geometry(33 * MiB);
  CHECK(g.fat_bits == 32);
  CHECK(g.sectors_per_cluster == 1);
  CHECK(g.clusters >= 65525);
  g = fat_geometry(512 * MiB);
  CHECK(g.fat_bits == 32);
  CHECK(g.sectors_per_cluster == 8);
  g = fat_geometry(MiB + 512 * 1024);
  CHECK(g.fat_bits == 12);
  CHECK_THROWS_AS(fat_geometry(512 * 1024), Error);
}

TEST_CASE("mkfs: FAT made at sizes around each type's limits follows the specification") {
  TempDir dir;
  const std::uint64_t KiB = 1024;
  for (std::uint64_t size : {1536 * KiB, 2 * MiB, 2560 * KiB, 3 * MiB, 8 * MiB, 31 * MiB, 32 * MiB,
                             32 * MiB + 512 * KiB, 33 * MiB, 34 * MiB, 259 * MiB, 260 * MiB, 261 * MiB}) {
    CAPTURE(size);
    const std::string f = dir / ("fat" + std::to_string(size));
    DiskFile::create(f, size)->keep();
    MkfsOptions o;
    o.type = FsType::Vfat;
    make_filesystem({f, 0, 0}, o);
    FatInfo fi = read_fat_info(f, 0);
    FatGeometry g = fat_geometry(size);
    CHECK(fi.fat_bits == g.fat_bits);
    CHECK(fi.cluster_sectors == g.sectors_per_cluster);
    // The FAT type is what the cluster count says it is.
    if (fi.fat_bits == 32) CHECK(fi.clusters >= 65525);
    if (fi.fat_bits == 16) CHECK((fi.clusters >= 4085 && fi.clusters < 65525));
    if (fi.fat_bits == 12) CHECK(fi.clusters < 4085);
    CHECK(exit_of({"fsck.fat", "-n", f}) == 0);
    RunOptions mt;
    mt.env = mtools_env();
    mt.capture_stdout = true;
    CHECK(run({"mmd", "-i", f, "::/EFI"}, mt).exit_code == 0);
    CHECK(run({"mdir", "-i", f, "::/EFI"}, mt).exit_code == 0);
    std::filesystem::remove(f);
  }
}

TEST_CASE("mkfs: argument sets are pinned, not the host's defaults") {
  MkfsOptions o;
  o.type = FsType::Ext4;
  o.label = "root";
  o.uuid = "11111111-2222-3333-4444-555555555555";
  auto a = mkfs_command(o, {"disk.raw", 2 * MiB, 64 * MiB}, "disk.raw");
  CHECK(a == std::vector<std::string>{"mke2fs", "-F", "-b", "4096", "-I", "256", "-i", "16384", "-O",
                                      "none,has_journal,ext_attr,resize_inode,dir_index,filetype,extent,64bit,"
                                      "flex_bg,sparse_super,large_file,huge_file,dir_nlink,extra_isize,metadata_csum",
                                      "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1,offset=2097152", "-L",
                                      "root", "-U", "11111111-2222-3333-4444-555555555555", "disk.raw", "65536k"});
  auto env = mkfs_env();
  CHECK(has(env, "MKE2FS_CONFIG=/dev/null"));
  CHECK(has(env, "LC_ALL=C"));

  o.type = FsType::Xfs;
  a = mkfs_command(o, {"/dev/loop9", 0, 512 * MiB}, "/dev/loop9");
  CHECK(a == std::vector<std::string>{"mkfs.xfs", "-f", "-K", "-m",
                                      "crc=1,finobt=1,rmapbt=0,reflink=1,bigtime=1,inobtcount=1,uuid=11111111-2222-"
                                      "3333-4444-555555555555",
                                      "-i", "sparse=1,nrext64=0", "-n", "ftype=1", "-L", "root", "/dev/loop9"});
  o.type = FsType::Btrfs;
  a = mkfs_command(o, {"/dev/loop9", 0, 512 * MiB}, "/dev/loop9");
  CHECK(has(a, "extref,skinny-metadata,no-holes,^mixed-bg,^raid56,^raid1c34,^zoned"));
  CHECK(has(a, "free-space-tree"));
  CHECK(has(a, "-U"));

  o.type = FsType::Vfat;
  o.label = "ESP";
  o.uuid = "abcd-1234";
  a = mkfs_command(o, {"disk.raw", MiB, 8 * MiB}, "disk.raw");
  CHECK(a == std::vector<std::string>{"mkfs.fat", "-F", "16", "-s", "1", "-S", "512", "-f", "2", "-R", "1", "--mbr=n",
                                      "-r", "512", "-n", "ESP", "-i", "ABCD1234", "--offset=2048", "-h", "2048",
                                      "disk.raw", "8192"});
  a = mkfs_command(o, {"disk.raw", MiB, 64 * MiB}, "disk.raw");
  CHECK(a[2] == "32");

  // argument errors
  o.uuid = "xyz";
  CHECK_THROWS_WITH_AS(mkfs_command(o, {"d", 0, 8 * MiB}, "d"), doctest::Contains("ABCD-1234"), Error);
  o.uuid.clear();
  o.label = "TWELVE_CHARS";
  CHECK_THROWS_WITH_AS(mkfs_command(o, {"d", 0, 8 * MiB}, "d"), doctest::Contains("longer than 11"), Error);
  o.type = FsType::Ext4;
  o.label.clear();
  o.uuid = "not-a-guid";
  CHECK_THROWS_WITH_AS(mkfs_command(o, {"d", 0, 8 * MiB}, "d"), doctest::Contains("not a GUID"), Error);
  o.uuid.clear();
  CHECK_THROWS_WITH_AS(mkfs_command(o, {"d", MiB, 0}, "d"), doctest::Contains("needs a size"), Error);
  o.btrfs_subvolumes = {{"home", 0, 0}};
  CHECK_THROWS_WITH_AS(mkfs_command(o, {"d", 0, 8 * MiB}, "d"), doctest::Contains("btrfs"), Error);
  CHECK(parse_fs_type("fat32") == FsType::Vfat);
  CHECK_THROWS_WITH_AS(parse_fs_type("ntfs"), doctest::Contains("unknown filesystem type 'ntfs'"), Error);
}

TEST_CASE("mkfs: ext4 in a partition of a disk file, pinned features, backup GPT intact") {
  TempDir dir;
  const std::string disk = new_file(dir, "disk.raw", 80 * MiB);
  DiskLayout l;
  PartitionSpec p;
  p.id = "root";
  p.grow = true;
  l.partitions = {p};
  PartitionTable t = write_partition_table(disk, l, TargetArch::X86_64);
  const auto& part = t.partitions.at(0);
  MkfsOptions o;
  o.type = FsType::Ext4;
  o.label = "rootfs";
  o.uuid = "0d2c6a3e-7c1b-4d7e-9a51-3f0a1b2c3d4e";
  make_filesystem({disk, part.start, part.size}, o);
  CHECK(trim(blkid(disk, part.start, "TYPE")) == "ext4");
  CHECK(trim(blkid(disk, part.start, "LABEL")) == "rootfs");
  CHECK(trim(blkid(disk, part.start, "UUID")) == "0d2c6a3e-7c1b-4d7e-9a51-3f0a1b2c3d4e");
  const std::string spec = disk + "?offset=" + std::to_string(part.start);
  CHECK(exit_of({"e2fsck", "-fn", spec}) == 0);
  std::string header = out_of({"dumpe2fs", "-h", spec});
  CHECK(header.find("Filesystem features:      has_journal ext_attr resize_inode dir_index filetype extent 64bit "
                    "flex_bg sparse_super large_file huge_file dir_nlink extra_isize metadata_csum\n") !=
        std::string::npos);
  CHECK(header.find("Inode size:\t          256") != std::string::npos);
  CHECK(header.find(fmt::format("Block count:              {}", part.size / 4096)) != std::string::npos);
  CHECK(exit_of({"sfdisk", "--verify", disk}) == 0);  // the backup GPT was not overwritten
  CHECK(std::filesystem::file_size(disk) == 80 * MiB);
}

TEST_CASE("mkfs: an 8 MiB ESP (FAT16) and a 40 MiB FAT32 that mtools and fsck.fat read") {
  TempDir dir;
  const std::string disk = new_file(dir, "disk.raw", 64 * MiB);
  DiskLayout l;
  PartitionSpec esp;
  esp.id = "esp";
  esp.type = "esp";
  esp.size = 8 * MiB;
  PartitionSpec big;
  big.id = "big";
  big.size = 40 * MiB;
  l.partitions = {esp, big};
  PartitionTable t = write_partition_table(disk, l, TargetArch::X86_64);
  RunOptions mt;
  mt.env = mtools_env();
  mt.capture_stdout = true;
  for (int i = 0; i < 2; ++i) {
    const auto& part = t.partitions.at(i);
    MkfsOptions o;
    o.type = FsType::Vfat;
    o.label = i == 0 ? "ESP" : "DATA";
    o.uuid = i == 0 ? "1234-ABCD" : "";
    make_filesystem({disk, part.start, part.size}, o);
    FatInfo fi = read_fat_info(disk, part.start);
    CHECK(fi.fat_bits == (i == 0 ? 16 : 32));
    CHECK(fi.cluster_sectors == 1);
    CHECK(fi.hidden_sectors == part.start / 512);
    CHECK(fi.bytes() == part.size);
    if (i == 0) CHECK(fi.volume_id == "1234-ABCD");
    CHECK(trim(blkid(disk, part.start, "LABEL")) == o.label);
    const std::string img = disk + "@@" + std::to_string(part.start);
    run_checked({"mmd", "-i", img, "::/EFI"}, mt);
    write_file(dir / "hello.txt", "hello\n");
    run_checked({"mcopy", "-i", img, dir / "hello.txt", "::/EFI/hello.txt"}, mt);
    CHECK(run_checked({"mtype", "-i", img, "::/EFI/hello.txt"}, mt).out == "hello\n");
    CHECK(run_checked({"mdir", "-i", img, "::/"}, mt).out.find("EFI") != std::string::npos);
    // fsck.fat has no offset: check a copy of the partition
    std::string copy = dir / "part.img";
    run_checked({"dd", "if=" + disk, "of=" + copy, "bs=1M", "skip=" + std::to_string(part.start / MiB),
                 "count=" + std::to_string(part.size / MiB), "status=none"});
    CHECK(exit_of({"fsck.fat", "-n", copy}) == 0);
  }
  CHECK(exit_of({"sfdisk", "--verify", disk}) == 0);
  CHECK(std::filesystem::file_size(disk) == 64 * MiB);
}

TEST_CASE("mkfs: xfs and btrfs on whole image files, checked by their own tools") {
  TempDir dir;
  const std::string x = new_file(dir, "xfs.raw", 320 * MiB);  // xfsprogs 6 needs 300 MiB
  MkfsOptions o;
  o.type = FsType::Xfs;
  o.label = "var";
  o.uuid = "a1b2c3d4-0000-4000-8000-000000000001";
  make_filesystem({x, 0, 0}, o);
  CHECK(trim(blkid(x, 0, "TYPE")) == "xfs");
  CHECK(trim(blkid(x, 0, "UUID")) == o.uuid);
  CHECK(trim(blkid(x, 0, "LABEL")) == "var");
  CHECK(exit_of({"xfs_repair", "-n", "-f", x}) == 0);
  std::string info = out_of({"xfs_db", "-r", "-c", "version", x});
  CHECK(info.find("CRC") != std::string::npos);
  CHECK(info.find("BIGTIME") != std::string::npos);
  CHECK(info.find("RMAPBT") == std::string::npos);

  const std::string b = new_file(dir, "btrfs.raw", 256 * MiB);
  o.type = FsType::Btrfs;
  o.label = "home";
  o.uuid = "a1b2c3d4-0000-4000-8000-000000000002";
  make_filesystem({b, 0, 0}, o);
  CHECK(trim(blkid(b, 0, "TYPE")) == "btrfs");
  CHECK(trim(blkid(b, 0, "UUID")) == o.uuid);
  CHECK(exit_of({"btrfs", "check", "--readonly", b}) == 0);
  std::string super = out_of({"btrfs", "inspect-internal", "dump-super", b});
  CHECK(super.find("csum_type\t\t0 (crc32c)") != std::string::npos);
  CHECK(super.find("nodesize\t\t16384") != std::string::npos);
  CHECK(super.find("NO_HOLES") != std::string::npos);
  CHECK(super.find("MIXED_GROUPS") == std::string::npos);
  CHECK(super.find("FREE_SPACE_TREE") != std::string::npos);
}

TEST_CASE("mkfs: a missing tool is named with its package before the disk is touched") {
  TempDir dir;
  const std::string disk = new_file(dir, "disk.raw", 16 * MiB);
  const std::string saved = std::getenv("PATH");
  ::setenv("PATH", dir.path.c_str(), 1);  // nothing in there
  MkfsOptions o;
  o.type = FsType::Xfs;
  try {
    make_filesystem({disk, 0, 0}, o);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Unsupported);
    CHECK(std::string(e.what()) == "mkfs.xfs is not installed on this host (Debian package xfsprogs)");
  }
  ::setenv("PATH", saved.c_str(), 1);
  CHECK(allocated(disk) == 0);
  require_tool("mkfs.btrfs", "btrfs-progs");  // installed by scripts/setup.sh
}

TEST_CASE("mkfs: a region past the end of the file is refused; a failing mkfs names the command") {
  TempDir dir;
  const std::string disk = new_file(dir, "disk.raw", 16 * MiB);
  MkfsOptions o;
  CHECK_THROWS_WITH_AS(make_filesystem({disk, 8 * MiB, 16 * MiB}, o), doctest::Contains("runs past its end"), Error);
  o.type = FsType::Xfs;  // too small for xfs
  try {
    make_filesystem({disk, 0, 0}, o);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Command);
    CHECK(std::string(e.what()).find("mkfs.xfs") != std::string::npos);
  }
}
