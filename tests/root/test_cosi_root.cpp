// COSI steps that need loop devices: shrink_ext_filesystems shrinks every
// ext4 and leaves vfat alone; the writer's read-only filesystem check fails
// the output on a damaged filesystem and leaves nothing behind.
#include <doctest.h>

#include <filesystem>

#include <fmt/format.h>

#include "host/disk/disk_file.hpp"
#include "host/disk/partition_table.hpp"
#include "host/disk/partitioner.hpp"
#include "host/system/process.hpp"
#include "host/fs/mkfs.hpp"
#include "host/image/cosi.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

std::string make_disk(const TempDir& dir) {
  auto d = DiskFile::create(dir / "disk.raw", 200 * MiB);
  d->keep();
  DiskLayout l;
  PartitionSpec esp, a, b;
  esp.type = "esp";
  esp.size = 16 * MiB;
  a.size = 80 * MiB;
  b.grow = true;
  l.partitions = {esp, a, b};
  write_partition_table(d->path(), l, TargetArch::X86_64);
  PartitionTable t = read_partition_table(d->path());
  MkfsOptions fat;
  fat.type = FsType::Vfat;
  make_filesystem({d->path(), t.partitions[0].start, t.partitions[0].size}, fat);
  make_filesystem({d->path(), t.partitions[1].start, t.partitions[1].size}, MkfsOptions{});
  make_filesystem({d->path(), t.partitions[2].start, t.partitions[2].size}, MkfsOptions{});
  return d->path();
}

cosi::Inputs inputs() {
  cosi::Inputs in;
  in.os_arch = "x86_64";
  in.os_release = "ID=test\n";
  in.bootloader.type = "grub";
  in.mount_points = {{1, "/boot/efi"}, {2, "/"}};
  return in;
}

}  // namespace

TEST_CASE("cosi: ext4 shrunk, vfat kept; a COSI of the result checks clean") {
  TempDir dir;
  const std::string disk = make_disk(dir);
  PartitionTable before = read_partition_table(disk);
  auto shrunk = cosi::shrink_ext_filesystems(disk);
  REQUIRE(shrunk.size() == 2);
  CHECK(shrunk[0].number == 2);
  CHECK(shrunk[1].number == 3);
  PartitionTable after = read_partition_table(disk);
  CHECK(after.partitions[0].size == before.partitions[0].size);
  CHECK(after.partitions[1].size < before.partitions[1].size);
  CHECK(after.partitions[1].start == before.partitions[1].start);
  CHECK(after.partitions[2].size < before.partitions[2].size);
  cosi::Options o;
  o.zstd.level = 1;
  o.work_dir = dir.path;
  cosi::Metadata m = cosi::write(disk, dir / "ok.cosi", inputs(), o);
  CHECK(m.regions.size() == 4);
  CHECK(m.regions[2].image.uncompressed_size == after.partitions[1].size);
}

TEST_CASE("cosi: a damaged filesystem fails the read-only check; nothing is written") {
  TempDir dir;
  const std::string disk = make_disk(dir);
  PartitionTable t = read_partition_table(disk);
  // A wrong link count of the root directory: e2fsck -fn reports it and exits 4.
  RunOptions ro;
  ro.capture_stdout = true;
  run_checked({"debugfs", "-w", "-R", "sif / links_count 9",
               fmt::format("{}?offset={}", disk, t.partitions[1].start)}, ro);
  cosi::Options o;
  o.zstd.level = 1;
  o.work_dir = dir.path;
  CHECK_THROWS_WITH_AS(cosi::write(disk, dir / "bad.cosi", inputs(), o),
                       doctest::Contains("partition 2 (ext4) is damaged"), Error);
  CHECK(!std::filesystem::exists(dir / "bad.cosi"));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) files += e.path().filename() != "disk.raw";
  CHECK(files == 0);
}
