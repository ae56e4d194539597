// fs/fat_stage: FAT filesystems inside a disk image file, staged with mtools
// and rebuilt with mkfs.vfat. No loop devices.
#include <doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "host/system/process.hpp"
#include "host/fs/fat_stage.hpp"
#include "host/system/cleanup.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kOffset = kMiB;  // the partition starts at 1 MiB
const std::string kUtf8Name = "/\xc3\x9c" "ber gr\xc3\xb6\xc3\x9f" "e.txt";  // "/Über größe.txt"

std::string bytes_at(const std::string& path, std::uint64_t offset, std::uint64_t len) {
  return read_file(path).substr(offset, len);
}

// Pseudo-random, so a wrong block shows.
std::string noise(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 16);
  }
  return s;
}

RunOptions mtools_opts() {
  RunOptions o;
  o.env = mtools_env();
  o.capture_stdout = true;
  return o;
}

std::string mtools(std::vector<std::string> argv) { return run_checked(argv, mtools_opts()).out; }

std::string fat_spec(const std::string& disk) { return disk + "@@" + std::to_string(kOffset); }

std::string mtype(const std::string& disk, const std::string& path) {
  return mtools({"mtype", "-i", fat_spec(disk), "::/" + path});
}

bool fat_exists(const std::string& disk, const std::string& path) {
  return run({"mdir", "-b", "-i", fat_spec(disk), "::/" + path}, mtools_opts()).exit_code == 0;
}

// fsck.fat has no offset option: check a copy of the partition.
void check_fsck(const TempDir& t, const std::string& disk, std::uint64_t fs_bytes) {
  write_file(t / "part.img", bytes_at(disk, kOffset, fs_bytes));
  run_checked({"fsck.fat", "-n", t / "part.img"});
  fs::remove(t / "part.img");
}

std::time_t mtime(const std::string& path) { return lstat_of(path).st_mtime; }

// disk.img: 1 MiB gap, the FAT partition, 1 MiB tail; sentinels around it.
struct Disk {
  std::string path;
  std::uint64_t part_size;
};

Disk make_disk(const TempDir& t, int fat_bits) {
  Disk d{t / "disk.img", (fat_bits == 32 ? 40 : 16) * kMiB};
  run_checked({"truncate", "-s", std::to_string(kOffset + d.part_size + kMiB), d.path});
  std::vector<std::string> mkfs = {"mkfs.vfat", "-F", std::to_string(fat_bits), "-i", "ABCD1234",
                                   "-n", "ESP" + std::to_string(fat_bits), "--offset=2048"};
  if (fat_bits == 32) mkfs.insert(mkfs.end(), {"-s", "1"});
  mkfs.insert(mkfs.end(), {d.path, std::to_string(d.part_size / 1024)});
  run_checked(mkfs);
  {
    std::fstream f(d.path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(kOffset - 6);
    f << "BEFORE";
    f.seekp(static_cast<std::streamoff>(kOffset + d.part_size));
    f << "AFTER";
  }
  // Initial content, with known times.
  write_file(t / "seed/EFI/BOOT/grub.cfg", "set timeout=0\n");
  write_file(t / "seed/EFI/BOOT/BOOTX64.EFI", noise(300000, 1));
  write_file(t / "seed/keep me.txt", "spaces in the name\n");
  write_file(t / "seed/old.txt", "to be removed\n");
  write_file(t / "seed/change.txt", "version 1\n");
  fs::create_directories(t / "seed/empty");
  run_checked({"sh", "-c", "find \"$1\" -exec touch -d '2021-03-04 05:06:08 UTC' {} +", "sh", t / "seed"});
  std::vector<std::string> argv = {"mcopy", "-s", "-m", "-i", fat_spec(d.path)};
  for (const auto& e : fs::directory_iterator(t / "seed")) argv.push_back(e.path().string());
  argv.push_back("::/");
  mtools(argv);
  mtools({"mattrib", "-i", fat_spec(d.path), "+h", "::/keep me.txt"});
  fs::remove_all(t / "seed");
  return d;
}

void stage_roundtrip(int fat_bits) {
  TempDir t;
  Disk d = make_disk(t, fat_bits);
  FatInfo before = read_fat_info(d.path, kOffset);
  CHECK(before.fat_bits == fat_bits);
  CHECK(before.volume_id == "ABCD-1234");
  CHECK(before.volume_serial == 0xABCD1234u);
  CHECK(before.label == "ESP" + std::to_string(fat_bits));
  CHECK(before.sector_size == 512);
  CHECK(before.bytes() == d.part_size);

  const std::size_t entries = teardown().size();
  std::string dir = t / "stage";
  {
    FatStage stage(d.path, kOffset, d.part_size, dir, false);
    CHECK(teardown().size() == entries + 1);
    CHECK(read_file(dir + "/EFI/BOOT/grub.cfg") == "set timeout=0\n");
    CHECK(read_file(dir + "/EFI/BOOT/BOOTX64.EFI") == noise(300000, 1));
    CHECK(read_file(dir + "/keep me.txt") == "spaces in the name\n");
    CHECK(fs::is_directory(dir + "/empty"));
    CHECK(mtime(dir + "/change.txt") == 1614834368);  // 2021-03-04 05:06:08 UTC
    CHECK_FALSE(stage.changed());

    fs::remove(dir + "/old.txt");
    write_file(dir + "/change.txt", "version 2, longer\n");
    write_file(dir + "/new dir/nested/deeper/file with spaces.txt", "nested\n");
    fs::create_directories(dir + "/new dir/empty inside");
    write_file(dir + "/big.bin", noise(6 * kMiB + 123, 2));
    write_file(dir + kUtf8Name, "utf-8 name\n");
    CHECK(stage.changed());
    stage.commit();
    CHECK_FALSE(fs::exists(dir));
  }
  CHECK(teardown().size() == entries);
  // No temporary filesystem image left beside the stage.
  CHECK(std::distance(fs::directory_iterator(t.path), fs::directory_iterator()) == 1);

  CHECK(mtype(d.path, "change.txt") == "version 2, longer\n");
  CHECK(mtype(d.path, "new dir/nested/deeper/file with spaces.txt") == "nested\n");
  CHECK(mtype(d.path, "big.bin") == noise(6 * kMiB + 123, 2));
  CHECK(mtype(d.path, "EFI/BOOT/BOOTX64.EFI") == noise(300000, 1));
  CHECK(fat_exists(d.path, "new dir/empty inside"));
  CHECK(fat_exists(d.path, "empty"));
  CHECK(mtype(d.path, kUtf8Name.substr(1)) == "utf-8 name\n");
  CHECK_FALSE(fat_exists(d.path, "old.txt"));
  CHECK(mtools({"mattrib", "-i", fat_spec(d.path), "::/keep me.txt"}).find('H') != std::string::npos);
  check_fsck(t, d.path, d.part_size);

  FatInfo after = read_fat_info(d.path, kOffset);
  CHECK(after.fat_bits == before.fat_bits);
  CHECK(after.volume_id == before.volume_id);
  CHECK(after.label == before.label);
  CHECK(after.sector_size == before.sector_size);
  CHECK(after.cluster_sectors == before.cluster_sectors);
  CHECK(after.total_sectors == before.total_sectors);
  // Same layout, not just the same parameters.
  CHECK(after.reserved_sectors == before.reserved_sectors);
  CHECK(after.fat_sectors == before.fat_sectors);
  CHECK(after.num_fats == before.num_fats);
  CHECK(after.root_entries == before.root_entries);
  CHECK(after.media == before.media);
  CHECK(after.hidden_sectors == before.hidden_sectors);
  CHECK(mtools({"mlabel", "-s", "-i", fat_spec(d.path), "::"}).find(before.label) != std::string::npos);
  CHECK(allocated(d.path) < 10 * kMiB);  // free space written as holes
  CHECK(bytes_at(d.path, kOffset - 6, 6) == "BEFORE");
  CHECK(bytes_at(d.path, kOffset + d.part_size, 5) == "AFTER");

  // Staged again: the tree and the untouched files' times came back.
  FatStage again(d.path, kOffset, d.part_size, dir, true);
  CHECK(mtime(dir + "/EFI/BOOT/grub.cfg") == 1614834368);
  CHECK(read_file(dir + "/big.bin") == noise(6 * kMiB + 123, 2));
  CHECK(fs::is_directory(dir + "/new dir/empty inside"));
}

}  // namespace

TEST_CASE("FAT12 stage: extract, modify, commit") { stage_roundtrip(12); }
TEST_CASE("FAT16 stage: extract, modify, commit") { stage_roundtrip(16); }
TEST_CASE("FAT32 stage: extract, modify, commit") { stage_roundtrip(32); }

TEST_CASE("FAT stages that must not write") {
  TempDir t;
  Disk d = make_disk(t, 16);
  const std::string part = bytes_at(d.path, 0, kOffset + d.part_size + kMiB);
  run_checked({"touch", "-d", "2001-02-03 04:05:06 UTC", d.path});  // so a write would move the mtime
  const std::time_t disk_mtime = mtime(d.path);
  std::string dir = t / "stage";

  SUBCASE("unchanged") {
    FatStage stage(d.path, kOffset, d.part_size, dir, false);
    // Reading is not changing.
    (void)read_file(dir + "/change.txt");
    CHECK_FALSE(stage.changed());
    stage.commit();
    CHECK_FALSE(fs::exists(dir));
  }
  SUBCASE("read-only, even when modified") {
    FatStage stage(d.path, kOffset, d.part_size, dir, true);
    write_file(dir + "/change.txt", "modified\n");
    CHECK(stage.changed());
    stage.commit();
    CHECK_FALSE(fs::exists(dir));
  }
  SUBCASE("same size and mtime, different contents, is a change") {
    FatStage stage(d.path, kOffset, d.part_size, dir, true);
    std::time_t m = mtime(dir + "/change.txt");
    write_file(dir + "/change.txt", "version 9\n");
    run_checked({"touch", "-d", "@" + std::to_string(m), dir + "/change.txt"});
    CHECK(stage.changed());
  }
  SUBCASE("destroyed without commit") {
    {
      FatStage stage(d.path, kOffset, d.part_size, dir, false);
      write_file(dir + "/change.txt", "discarded\n");
    }
    CHECK_FALSE(fs::exists(dir));
  }
  SUBCASE("a symlink fails the commit, naming it, and writes nothing") {
    FatStage stage(d.path, kOffset, d.part_size, dir, false);
    write_file(dir + "/a.txt", "a\n");
    fs::create_directories(dir + "/sub");
    fs::create_symlink("../a.txt", dir + "/sub/link");
    try {
      stage.commit();
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Usage);
      CHECK(std::string(e.what()).find("sub/link") != std::string::npos);
      CHECK(std::string(e.what()).find("symbolic link") != std::string::npos);
    }
    CHECK(fs::exists(dir + "/a.txt"));  // kept for the caller
    stage.discard();
    CHECK_FALSE(fs::exists(dir));
  }
  SUBCASE("names differing only in case fail the commit") {
    FatStage stage(d.path, kOffset, d.part_size, dir, false);
    write_file(dir + "/EFI/boot/x", "clash\n");
    CHECK_THROWS_WITH_AS(stage.commit(), doctest::Contains("differs only in case"), Error);
  }
  CHECK(bytes_at(d.path, 0, kOffset + d.part_size + kMiB) == part);
  CHECK(mtime(d.path) == disk_mtime);
}

TEST_CASE("FAT stage directory and image checks") {
  TempDir t;
  Disk d = make_disk(t, 16);
  SUBCASE("a non-empty directory is refused and kept") {
    write_file(t / "stage/x", "x");
    CHECK_THROWS_WITH_AS(FatStage(d.path, kOffset, d.part_size, t / "stage", false), doctest::Contains("not empty"),
                         Error);
    CHECK(fs::exists(t / "stage/x"));
  }
  SUBCASE("an existing empty directory is used and kept on discard") {
    fs::create_directory(t / "stage");
    {
      FatStage stage(d.path, kOffset, d.part_size, t / "stage", true);
      CHECK(fs::exists(t / "stage/change.txt"));
    }
    CHECK(fs::is_directory(t / "stage"));
    CHECK(fs::is_empty(t / "stage"));
  }
  SUBCASE("no FAT at the offset") {
    CHECK_THROWS_WITH_AS(read_fat_info(d.path, 0), doctest::Contains("no FAT filesystem"), Error);
    CHECK_THROWS_AS(FatStage(d.path, 0, kMiB, t / "stage", true), Error);
    CHECK_FALSE(fs::exists(t / "stage"));
  }
  SUBCASE("an odd sector count (mkfs.vfat makes whole KiB) is kept") {
    // Grow the filesystem by one sector where that adds no cluster.
    FatInfo fi = read_fat_info(d.path, kOffset);
    REQUIRE(fi.total_sectors < 0xFFFF);
    std::uint64_t data_start = fi.reserved_sectors + fi.num_fats * fi.fat_sectors + fi.root_entries * 32 / 512;
    REQUIRE((fi.total_sectors + 1 - data_start) / fi.cluster_sectors == fi.clusters);
    {
      std::fstream f(d.path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(kOffset + 19));
      std::uint16_t total = static_cast<std::uint16_t>(fi.total_sectors + 1);
      f.put(static_cast<char>(total & 0xff));
      f.put(static_cast<char>(total >> 8));
    }
    {
      FatStage stage(d.path, kOffset, d.part_size + 512, t / "stage", false);
      write_file(t / "stage/new.txt", "new\n");
      stage.commit();
    }
    CHECK(read_fat_info(d.path, kOffset).total_sectors == fi.total_sectors + 1);
    CHECK(mtype(d.path, "new.txt") == "new\n");
    check_fsck(t, d.path, d.part_size + 512);
  }
  SUBCASE("a partition smaller than the filesystem") {
    CHECK_THROWS_WITH_AS(FatStage(d.path, kOffset, d.part_size / 2, t / "stage", true), doctest::Contains("larger"),
                         Error);
  }
}
