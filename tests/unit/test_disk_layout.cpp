// disk/disk_file and disk/partitioner: new disk files and partition tables
// written with libfdisk, read back with libfdisk (partition_table) and once
// with sfdisk. Files in a temp dir, no root.
#include <doctest.h>

#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <fstream>

#include "host/disk/disk_file.hpp"
#include "host/disk/partition_table.hpp"
#include "host/disk/partitioner.hpp"
#include "host/system/process.hpp"
#include "host/system/cleanup.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t MiB = kMiB;

PartitionSpec part(std::string id, std::optional<std::uint64_t> size, std::string type = "linux-generic") {
  PartitionSpec p;
  p.id = std::move(id);
  p.size = size;
  p.type = std::move(type);
  return p;
}

// The message of the usage error `f` throws (fails the test otherwise).
template <class F>
std::string usage_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    return e.what();
  }
  FAIL("no error thrown");
  return "";
}

std::string new_disk(const TempDir& dir, std::uint64_t size) {
  auto d = DiskFile::create(dir / "disk.raw", size);
  d->keep();
  return d->path();
}

}  // namespace

TEST_CASE("disk_file: sparse, exact size, refuses to overwrite unless asked, removed unless kept") {
  TempDir dir;
  const std::string path = dir / "d.raw";
  {
    auto d = DiskFile::create(path, 64 * MiB);
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(st.st_size == 64 * MiB);
    CHECK(allocated(path) < 64 * 1024);  // sparse
  }
  CHECK_FALSE(fs::exists(path));  // not kept: removed

  DiskFile::create(path, 8 * MiB)->keep();
  CHECK(fs::file_size(path) == 8 * MiB);
  CHECK(usage_error([&] { DiskFile::create(path, 4 * MiB); }).find("already exists") != std::string::npos);
  CHECK(fs::file_size(path) == 8 * MiB);  // untouched
  DiskFile::create(path, 4 * MiB, true)->keep();
  CHECK(fs::file_size(path) == 4 * MiB);

  fs::create_directory(dir / "sub");
  CHECK(usage_error([&] { DiskFile::create(dir / "sub", MiB, true); }).find("not a regular file") !=
        std::string::npos);
  fs::create_symlink(path, dir / "link");
  CHECK(usage_error([&] { DiskFile::create(dir / "link", MiB, true); }).find("not a regular file") !=
        std::string::npos);
  CHECK(fs::file_size(path) == 4 * MiB);
  CHECK(usage_error([&] { DiskFile::create(dir / "odd", 1000); }).find("multiple of 512") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "odd"));

  // An interruption releases the teardown stack: the unfinished disk goes.
  auto pending = DiskFile::create(dir / "pending.raw", MiB);
  CHECK(fs::exists(dir / "pending.raw"));
  teardown().release_all();
  CHECK_FALSE(fs::exists(dir / "pending.raw"));
  pending.reset();
  CHECK(fs::exists(path));  // kept disks are not on the stack
}

TEST_CASE("disk_file: an existing disk is opened as it is and never removed") {
  TempDir dir;
  const std::string path = new_disk(dir, 8 * MiB);
  {
    auto d = DiskFile::open(path);
    CHECK(d->size() == 8 * MiB);
    teardown().release_all();
  }
  CHECK(fs::file_size(path) == 8 * MiB);  // neither the stack nor the handle removed it
  fs::create_symlink(path, dir / "link");
  CHECK(usage_error([&] { DiskFile::open(dir / "link"); }).find("not a regular file") != std::string::npos);
  fs::create_directory(dir / "sub");
  CHECK(usage_error([&] { DiskFile::open(dir / "sub"); }).find("not a regular file") != std::string::npos);
  { std::ofstream(dir / "odd") << "x"; }
  CHECK(usage_error([&] { DiskFile::open(dir / "odd"); }).find("multiple of 512") != std::string::npos);
  CHECK_THROWS_AS(DiskFile::open(dir / "missing"), Error);
}

TEST_CASE("partitioner: type names map to GPT GUIDs per architecture, MBR codes where they make sense") {
  CHECK(gpt_type_guid("esp", TargetArch::X86_64) == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
  CHECK(gpt_type_guid("root", TargetArch::X86_64) == "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
  CHECK(gpt_type_guid("root", TargetArch::Arm64) == "B921B045-1DF0-41C3-AF44-4C6F280D3FAE");
  CHECK(gpt_type_guid("usr-verity", TargetArch::Arm64) == "6E11A4E7-FBCA-4DED-B9E9-E1A512BB664E");
  CHECK(gpt_type_guid("tmp", TargetArch::Arm64) == "7EC6F557-3BC5-4ACA-B293-16EF5DF639D1");
  CHECK(gpt_type_guid("0fc63daf-8483-4772-8e79-3d69d8477de4", TargetArch::X86_64) ==
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
  CHECK(usage_error([] { gpt_type_guid("rooot", TargetArch::X86_64); }).find("unknown and is not a GUID") !=
        std::string::npos);
  CHECK(mbr_type_code("esp") == 0xef);
  CHECK(mbr_type_code("swap") == 0x82);
  CHECK(mbr_type_code("root") == 0x83);
  CHECK(mbr_type_code("0x8e") == 0x8e);
  CHECK(usage_error([] { mbr_type_code("bios-grub"); }).find("no MBR code") != std::string::npos);
  CHECK(usage_error([] { mbr_type_code("0x05"); }).find("extended") != std::string::npos);
  CHECK(parse_target_arch("amd64") == TargetArch::X86_64);
  CHECK(parse_target_arch("aarch64") == TargetArch::Arm64);
  CHECK(usage_error([] { parse_target_arch("riscv64"); }).find("riscv64") != std::string::npos);
}

TEST_CASE("partitioner: placement follows starts, ends, sizes and grow; errors name the partition") {
  DiskLayout l;
  l.partitions = {part("esp", 8 * MiB, "esp"), part("root", std::nullopt, "root")};
  l.partitions[1].grow = true;
  auto p = place_partitions(l, 100 * MiB, TargetArch::X86_64);
  REQUIRE(p.size() == 2);
  CHECK(p[0].start == MiB);
  CHECK(p[0].size == 8 * MiB);
  CHECK(p[1].start == 9 * MiB);
  CHECK(p[1].size == 90 * MiB);  // GPT: the last MiB keeps the backup table
  CHECK(p[1].type == "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709");
  CHECK(p[1].number == 2);

  l.table = TableType::Mbr;
  l.partitions[1].type = "linux-generic";
  p = place_partitions(l, 100 * MiB, TargetArch::X86_64);
  CHECK(p[1].size == 91 * MiB);  // MBR: to the last whole MiB
  CHECK(p[0].type == "0xef");
  l.table = TableType::Gpt;

  // explicit start leaves a gap; end is exclusive
  DiskLayout g;
  g.partitions = {part("a", std::nullopt), part("b", std::nullopt)};
  g.partitions[0].start = 2 * MiB;
  g.partitions[0].end = 10 * MiB;
  g.partitions[1].start = 20 * MiB;
  g.partitions[1].end = 30 * MiB;
  p = place_partitions(g, 31 * MiB, TargetArch::X86_64);
  CHECK(p[0].start == 2 * MiB);
  CHECK(p[0].size == 8 * MiB);
  CHECK(p[1].start == 20 * MiB);
  CHECK(p[1].size == 10 * MiB);
  CHECK(required_disk_size(g) == 31 * MiB);
  CHECK(usage_error([&] { place_partitions(g, 30 * MiB, TargetArch::X86_64); }) ==
        "partition 'b': ends at 30 MiB but the disk (30 MiB) has room for partitions up to 29 MiB (the last MiB "
        "holds the backup GPT)");

  DiskLayout bad = l;
  bad.partitions[0].size = 8 * MiB + 512;
  CHECK(usage_error([&] { place_partitions(bad, 100 * MiB, TargetArch::X86_64); }) ==
        "partition 'esp': size 8389120 is not a multiple of 1 MiB");
  bad = l;
  bad.partitions[0].grow = true;
  bad.partitions[0].size.reset();
  CHECK(usage_error([&] { place_partitions(bad, 100 * MiB, TargetArch::X86_64); }).find(
            "partition 'esp': is not the last partition but is set to grow") != std::string::npos);
  bad = l;
  bad.partitions[0].end = 4 * MiB;
  CHECK(usage_error([&] { place_partitions(bad, 100 * MiB, TargetArch::X86_64); }) ==
        "partition 'esp': cannot specify both end and size");
  bad = l;
  bad.partitions[1].start = 5 * MiB;
  CHECK(usage_error([&] { place_partitions(bad, 100 * MiB, TargetArch::X86_64); }) ==
        "partition 'root': starts at 5 MiB, which overlaps partition 'esp' (it ends at 9 MiB)");
  bad = l;
  bad.partitions[0].start = 0;
  CHECK(usage_error([&] { place_partitions(bad, 100 * MiB, TargetArch::X86_64); }).find("reserved") !=
        std::string::npos);
  // the grow partition has nothing left
  CHECK(usage_error([&] { place_partitions(l, 10 * MiB, TargetArch::X86_64); }).find(
            "partition 'root': starts at 9 MiB but the disk (10 MiB) has no room left") != std::string::npos);
  CHECK(usage_error([&] { required_disk_size(l); }).find("'root' grows") != std::string::npos);
  bad = l;
  bad.partitions[1].label = "x";
  bad.table = TableType::Mbr;
  bad.partitions[1].type = "linux-generic";
  CHECK(usage_error([&] { place_partitions(bad, 100 * MiB, TargetArch::X86_64); }).find("no label") !=
        std::string::npos);
  bad = l;
  bad.partitions[0].uuid = "not-a-guid";
  CHECK(usage_error([&] { place_partitions(bad, 100 * MiB, TargetArch::X86_64); }).find("not a GUID") !=
        std::string::npos);
  bad = l;
  bad.partitions[0].label = std::string(37, 'x');
  CHECK(usage_error([&] { place_partitions(bad, 100 * MiB, TargetArch::X86_64); }).find("longer than 36") !=
        std::string::npos);
  DiskLayout five;
  five.table = TableType::Mbr;
  for (int i = 0; i < 5; ++i) five.partitions.push_back(part(std::to_string(i), MiB));
  CHECK(usage_error([&] { place_partitions(five, 100 * MiB, TargetArch::X86_64); }).find("at most 4") !=
        std::string::npos);
}

TEST_CASE("partitioner: GPT round trip through libfdisk and sfdisk -J") {
  TempDir dir;
  const std::string disk = new_disk(dir, 64 * MiB);
  DiskLayout l;
  l.disk_id = "11111111-2222-3333-4444-555555555555";
  l.partitions = {part("esp", 8 * MiB, "esp"), part("boot", 2 * MiB, "bios-grub"), part("root", 20 * MiB, "root"),
                  part("data", std::nullopt, "c0ffee00-0000-4000-8000-0000000000aa")};
  l.partitions[0].label = "ESP";
  l.partitions[2].label = "rootfs-a";
  l.partitions[2].uuid = "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE";
  l.partitions[3].grow = true;
  l.partitions[3].label = "state";
  write_partition_table(disk, l, TargetArch::Arm64);
  PartitionTable r = read_partition_table(disk);
  CHECK(r.type == "gpt");
  CHECK(r.id == "11111111-2222-3333-4444-555555555555");
  REQUIRE(r.partitions.size() == 4);
  CHECK(r.partitions[0].start == MiB);
  CHECK(r.partitions[0].size == 8 * MiB);
  CHECK(r.partitions[0].type == "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
  CHECK(r.partitions[0].label == "ESP");
  CHECK(r.partitions[1].type == "21686148-6449-6e6f-744e-656564454649");
  CHECK(r.partitions[1].start == 9 * MiB);
  CHECK(r.partitions[2].type == "b921b045-1df0-41c3-af44-4c6f280d3fae");  // arm64 root
  CHECK(r.partitions[2].uuid == "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
  CHECK(r.partitions[2].label == "rootfs-a");
  CHECK(r.partitions[3].type == "c0ffee00-0000-4000-8000-0000000000aa");
  CHECK(r.partitions[3].start == 31 * MiB);
  CHECK(r.partitions[3].size == 32 * MiB);  // grows to the last MiB
  CHECK(r.partitions[3].label == "state");
  // random PARTUUIDs: well-formed and distinct
  CHECK(is_guid(r.partitions[0].uuid));
  CHECK(r.partitions[0].uuid != r.partitions[1].uuid);
  CHECK(r.partitions[0].uuid != r.partitions[3].uuid);

  // An independent reader.
  RunOptions o;
  o.capture_stdout = true;
  std::string json;  // whitespace runs collapsed to one space
  for (char c : run_checked({"sfdisk", "-J", disk}, o).out) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (json.empty() || json.back() != ' ') json += ' ';
    } else {
      json += c;
    }
  }
  CHECK(json.find("\"label\": \"gpt\"") != std::string::npos);
  CHECK(json.find("\"id\": \"11111111-2222-3333-4444-555555555555\"") != std::string::npos);
  CHECK(json.find("\"start\": 2048, \"size\": 16384, \"type\": \"C12A7328-F81F-11D2-BA4B-00A0C93EC93B\"") !=
        std::string::npos);
  CHECK(json.find("\"start\": 63488, \"size\": 65536, \"type\": \"C0FFEE00-0000-4000-8000-0000000000AA\"") !=
        std::string::npos);
  CHECK(json.find("\"uuid\": \"AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE\", \"name\": \"rootfs-a\"") !=
        std::string::npos);
  CHECK(json.find("\"lastlba\": 131038") != std::string::npos);  // backup GPT intact at the end
  // sfdisk --verify finds nothing wrong
  CHECK(run({"sfdisk", "--verify", disk}, o).exit_code == 0);
}

TEST_CASE("partitioner: MBR round trip, bootable flag, disk id; x86-64 root GUID; random disk GUID") {
  TempDir dir;
  const std::string disk = new_disk(dir, 32 * MiB);
  DiskLayout l;
  l.table = TableType::Mbr;
  l.disk_id = "0x1234abcd";
  l.partitions = {part("boot", 4 * MiB, "esp"), part("swap", 4 * MiB, "swap"), part("root", std::nullopt, "root")};
  l.partitions[2].grow = true;
  l.partitions[2].bootable = true;
  write_partition_table(disk, l, TargetArch::X86_64);
  PartitionTable r = read_partition_table(disk);
  CHECK(r.type == "dos");
  CHECK(r.id == "0x1234abcd");
  REQUIRE(r.partitions.size() == 3);
  CHECK(r.partitions[0].type == "0xef");
  CHECK(r.partitions[1].type == "0x82");
  CHECK(r.partitions[2].type == "0x83");
  CHECK(r.partitions[2].start == 9 * MiB);
  CHECK(r.partitions[2].size == 23 * MiB);
  CHECK(r.partitions[2].uuid == "1234abcd-03");
  RunOptions o;
  o.capture_stdout = true;
  std::string dump = run_checked({"sfdisk", "-d", disk}, o).out;
  CHECK(dump.find("start=       18432, size=       47104, type=83, bootable") != std::string::npos);

  // Rewriting replaces the table; GPT with random ids.
  DiskLayout g;
  g.partitions = {part("root", std::nullopt, "root")};
  write_partition_table(disk, g, TargetArch::X86_64);
  PartitionTable a = read_partition_table(disk);
  write_partition_table(disk, g, TargetArch::X86_64);
  PartitionTable b = read_partition_table(disk);
  CHECK(a.type == "gpt");
  CHECK(is_guid(a.id));
  CHECK(a.id != b.id);
  CHECK(a.partitions[0].uuid != b.partitions[0].uuid);
  CHECK(a.partitions[0].type == "4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
  CHECK(a.partitions[0].size == 30 * MiB);
}

TEST_CASE("partitioner: a layout that does not fit the disk is refused before anything is written") {
  TempDir dir;
  const std::string disk = new_disk(dir, 16 * MiB);
  DiskLayout l;
  l.partitions = {part("esp", 8 * MiB, "esp"), part("root", 8 * MiB, "root")};
  CHECK(usage_error([&] { write_partition_table(disk, l, TargetArch::X86_64); }) ==
        "partition 'root': ends at 17 MiB but the disk (16 MiB) has room for partitions up to 15 MiB (the last MiB "
        "holds the backup GPT)");
  CHECK(allocated(disk) == 0);  // nothing written
}
