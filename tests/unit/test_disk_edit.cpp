// disk/partition_edit and fs/fs_uuid on image files (no root): PARTUUIDs
// and filesystem UUIDs are replaced and everything still checks clean
// (fs/shrink needs a loop device: tests/root/test_disk_root.cpp).
#include <doctest.h>

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "host/disk/disk_file.hpp"
#include "host/disk/partition_edit.hpp"
#include "host/disk/partitioner.hpp"
#include "host/disk/probe.hpp"
#include "host/disk/reset_ids.hpp"
#include "host/system/process.hpp"
#include "host/fs/fat_stage.hpp"
#include "host/fs/fs_uuid.hpp"
#include "host/fs/mkfs.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

constexpr std::uint64_t MiB = kMiB;

int exit_of(const std::vector<std::string>& argv) {
  RunOptions o;
  o.capture_stdout = true;
  return run(argv, o).exit_code;
}

std::string disk_with(const TempDir& dir, TableType table, std::vector<std::uint64_t> sizes, std::uint64_t disk_size) {
  auto d = DiskFile::create(dir / "disk.raw", disk_size);
  d->keep();
  DiskLayout l;
  l.table = table;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    PartitionSpec p;
    p.id = "p" + std::to_string(i + 1);
    p.size = sizes[i];
    p.label = table == TableType::Gpt ? p.id : "";
    l.partitions.push_back(p);
  }
  write_partition_table(d->path(), l, TargetArch::X86_64);
  return d->path();
}

}  // namespace

TEST_CASE("partition_edit: size changes keep the start; overlaps refused; PARTUUIDs replaced") {
  TempDir dir;
  const std::string disk = disk_with(dir, TableType::Gpt, {16 * MiB, 16 * MiB}, 40 * MiB);
  PartitionTable before = read_partition_table(disk);
  PartitionTable t = set_partition_size(disk, 1, 10 * MiB + 4096);
  CHECK(t.partitions[0].start == before.partitions[0].start);
  CHECK(t.partitions[0].size == 10 * MiB + 4096);
  CHECK(t.partitions[0].uuid == before.partitions[0].uuid);
  CHECK(t.partitions[0].label == "p1");
  CHECK(t.partitions[1].start == before.partitions[1].start);
  CHECK(t.partitions[1].size == before.partitions[1].size);
  CHECK_THROWS_WITH_AS(set_partition_size(disk, 1, 17 * MiB), doctest::Contains("would run past"), Error);
  CHECK_THROWS_WITH_AS(set_partition_size(disk, 2, 30 * MiB), doctest::Contains("would run past"), Error);
  CHECK_THROWS_WITH_AS(set_partition_size(disk, 3, MiB), doctest::Contains("has no partition 3"), Error);
  CHECK(exit_of({"sfdisk", "--verify", disk}) == 0);

  t = set_partition_uuid(disk, 2, "01234567-89ab-4def-8123-456789abcdef");
  CHECK(t.partitions[1].uuid == "01234567-89ab-4def-8123-456789abcdef");
  CHECK(t.partitions[0].uuid == before.partitions[0].uuid);
  t = set_partition_uuid(disk, 2);
  CHECK(t.partitions[1].uuid != "01234567-89ab-4def-8123-456789abcdef");
  CHECK(t.partitions[1].uuid[14] == '4');  // version 4
  PartitionTable r = reset_partition_uuids(disk);
  CHECK(r.id == before.id);  // the disk GUID stays
  CHECK(r.partitions[0].uuid != before.partitions[0].uuid);
  CHECK(r.partitions[1].uuid != t.partitions[1].uuid);
  CHECK(r.partitions[0].uuid != r.partitions[1].uuid);
  CHECK(r.partitions[1].size == before.partitions[1].size);
  CHECK(exit_of({"sfdisk", "--verify", disk}) == 0);

  TempDir mdir;
  const std::string mbr = disk_with(mdir, TableType::Mbr, {8 * MiB, 8 * MiB}, 20 * MiB);
  PartitionTable m0 = read_partition_table(mbr);
  CHECK_THROWS_WITH_AS(set_partition_uuid(mbr, 1), doctest::Contains("MBR"), Error);
  PartitionTable m1 = reset_partition_uuids(mbr);
  CHECK(m1.id != m0.id);
  CHECK(m1.partitions[0].uuid == m1.id.substr(2) + "-01");
  CHECK(m1.partitions[1].start == m0.partitions[1].start);
}

TEST_CASE("fs_uuid: ext4 and vfat in partitions get new ids and still check clean") {
  TempDir dir;
  const std::string disk = disk_with(dir, TableType::Gpt, {8 * MiB, 40 * MiB, 40 * MiB, 4 * MiB}, 100 * MiB);
  PartitionTable t = read_partition_table(disk);
  const auto& e = t.partitions[0];
  const auto& f16 = t.partitions[0];
  (void)f16;
  MkfsOptions ext;
  ext.label = "root";
  make_filesystem({disk, t.partitions[1].start, t.partitions[1].size}, ext);
  MkfsOptions fat;
  fat.type = FsType::Vfat;
  fat.label = "ESP";
  make_filesystem({disk, e.start, e.size}, fat);  // FAT16
  MkfsOptions fat32 = fat;
  fat32.label = "BIG";
  make_filesystem({disk, t.partitions[2].start, t.partitions[2].size}, fat32);  // FAT32

  // ext4: random, then given
  const auto& pe = t.partitions[1];
  const std::string old_ext = probe_filesystem(disk, pe.start, pe.size).uuid;
  std::string n1 = reset_filesystem_uuid(disk, pe.start, pe.size);
  CHECK(n1 != old_ext);
  CHECK(is_guid(n1));
  CHECK(reset_filesystem_uuid(disk, pe.start, pe.size, "0badc0de-0000-4000-8000-000000000001") ==
        "0badc0de-0000-4000-8000-000000000001");
  const std::string espec = disk + "?offset=" + std::to_string(pe.start);
  CHECK(exit_of({"e2fsck", "-fn", espec}) == 0);
  CHECK(probe_filesystem(disk, pe.start, pe.size).label == "root");

  // vfat FAT16 and FAT32: volume ID in the boot sector (and FAT32's backup), label kept
  RunOptions mt;
  mt.env = mtools_env();
  mt.capture_stdout = true;
  for (const Partition* p : {&t.partitions[0], &t.partitions[2]}) {
    FatInfo before = read_fat_info(disk, p->start);
    std::string id = reset_filesystem_uuid(disk, p->start, p->size);
    CHECK(id != before.volume_id);
    CHECK(id.size() == 9);
    CHECK(reset_filesystem_uuid(disk, p->start, p->size, "c0de-1234") == "C0DE-1234");
    FatInfo after = read_fat_info(disk, p->start);
    CHECK(after.volume_id == "C0DE-1234");
    CHECK(after.label == before.label);
    CHECK(probe_filesystem(disk, p->start, p->size).label == before.label);
    if (after.fat_bits == 32) {
      // the backup boot sector carries the same serial
      std::string img = read_file(disk);
      CHECK(img.substr(p->start + 67, 4) == img.substr(p->start + after.backup_boot_sector * 512 + 67, 4));
    }
    CHECK(run({"mdir", "-i", disk + "@@" + std::to_string(p->start), "::/"}, mt).exit_code == 0);
    std::string copy = dir / "fat.img";
    run_checked({"dd", "if=" + disk, "of=" + copy, "bs=1M", "skip=" + std::to_string(p->start / MiB),
                 "count=" + std::to_string(p->size / MiB), "status=none"});
    CHECK(exit_of({"fsck.fat", "-n", copy}) == 0);
  }
  CHECK_THROWS_WITH_AS(reset_filesystem_uuid(disk, t.partitions[3].start, t.partitions[3].size),
                       doctest::Contains("without a filesystem"), Error);
  CHECK_THROWS_WITH_AS(reset_filesystem_uuid(disk, pe.start, pe.size, "nope"), doctest::Contains("not a GUID"), Error);
  CHECK(std::filesystem::file_size(disk) == 100 * MiB);  // no tool truncated the image
  CHECK(exit_of({"sfdisk", "--verify", disk}) == 0);
}

TEST_CASE("fs_uuid: xfs and btrfs image files get new UUIDs") {
  TempDir dir;
  auto x = DiskFile::create(dir / "x.raw", 320 * MiB);
  x->keep();
  MkfsOptions o;
  o.type = FsType::Xfs;
  make_filesystem({x->path(), 0, 0}, o);
  const std::string xo = probe_filesystem(x->path()).uuid;
  std::string xn = reset_filesystem_uuid(x->path(), 0, 0);
  CHECK(xn != xo);
  CHECK(exit_of({"xfs_repair", "-n", "-f", x->path()}) == 0);

  auto b = DiskFile::create(dir / "b.raw", 256 * MiB);
  b->keep();
  o.type = FsType::Btrfs;
  make_filesystem({b->path(), 0, 0}, o);
  CHECK(reset_filesystem_uuid(b->path(), 0, 0, "0badc0de-0000-4000-8000-000000000002") ==
        "0badc0de-0000-4000-8000-000000000002");
  CHECK(exit_of({"btrfs", "check", "--readonly", b->path()}) == 0);
}

TEST_CASE("reset_ids: planned ids change nothing until applied; then every id is the planned one") {
  TempDir dir;
  const std::string disk = disk_with(dir, TableType::Gpt, {8 * MiB, 40 * MiB, 4 * MiB}, 60 * MiB);
  PartitionTable t = read_partition_table(disk);
  MkfsOptions fat;
  fat.type = FsType::Vfat;
  make_filesystem({disk, t.partitions[0].start, t.partitions[0].size}, fat);
  MkfsOptions ext;
  make_filesystem({disk, t.partitions[1].start, t.partitions[1].size}, ext);
  const std::string fat_before = probe_filesystem(disk, t.partitions[0].start, t.partitions[0].size).uuid;
  const std::string ext_before = probe_filesystem(disk, t.partitions[1].start, t.partitions[1].size).uuid;

  auto plan = plan_id_reset(disk);
  REQUIRE(plan.size() == 3);
  CHECK(plan[0].fstype == "vfat");
  CHECK(plan[0].old_uuid == fat_before);
  CHECK(plan[0].new_uuid.size() == 9);
  CHECK(plan[0].new_uuid[4] == '-');
  CHECK(plan[1].fstype == "ext4");
  CHECK(plan[1].old_uuid == ext_before);
  CHECK(plan[2].fstype.empty());
  CHECK(plan[2].new_uuid.empty());
  for (const auto& c : plan) {
    CHECK(c.old_partuuid == t.partitions[static_cast<std::size_t>(c.number - 1)].uuid);
    CHECK(c.new_partuuid != c.old_partuuid);
  }
  // Planning changed nothing.
  PartitionTable same = read_partition_table(disk);
  for (std::size_t i = 0; i < 3; ++i) CHECK(same.partitions[i].uuid == t.partitions[i].uuid);
  CHECK(probe_filesystem(disk, t.partitions[1].start, t.partitions[1].size).uuid == ext_before);

  apply_id_reset(disk, plan);
  PartitionTable after = read_partition_table(disk);
  for (std::size_t i = 0; i < 3; ++i) CHECK(after.partitions[i].uuid == plan[i].new_partuuid);
  CHECK(probe_filesystem(disk, t.partitions[0].start, t.partitions[0].size).uuid == plan[0].new_uuid);
  CHECK(probe_filesystem(disk, t.partitions[1].start, t.partitions[1].size).uuid == plan[1].new_uuid);
  CHECK(exit_of({"e2fsck", "-fn", fmt::format("{}?offset={}", disk, t.partitions[1].start)}) == 0);
}

TEST_CASE("reset_ids: a filesystem whose UUID cannot be reset, or an MBR table, is refused up front") {
  TempDir dir;
  const std::string disk = disk_with(dir, TableType::Gpt, {8 * MiB, 8 * MiB}, 20 * MiB);
  PartitionTable t = read_partition_table(disk);
  // A swap signature in partition 2.
  std::string part2 = dir / "p2.img";
  CHECK(exit_of({"truncate", "-s", std::to_string(t.partitions[1].size), part2}) == 0);
  CHECK(exit_of({"mkswap", "-q", part2}) == 0);
  CHECK(exit_of({"dd", "if=" + part2, "of=" + disk, "bs=1M", "conv=notrunc", "status=none",
                 "seek=" + std::to_string(t.partitions[1].start / MiB)}) == 0);
  try {
    (void)plan_id_reset(disk);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK(std::string(e.what()).find("partition 2 holds swap") != std::string::npos);
  }
  CHECK(read_partition_table(disk).partitions[0].uuid == t.partitions[0].uuid);

  TempDir dir2;
  const std::string mbr = disk_with(dir2, TableType::Mbr, {8 * MiB}, 12 * MiB);
  CHECK_THROWS_WITH_AS(plan_id_reset(mbr), doctest::Contains("only GPT"), Error);
}
