// fs/fstab: an image's fstab parsed (each entry with its line, for messages
// that point at the line to fix) and its sources matched to partitions
// without mounting anything; fstab written from a layout (pure), read back
// unchanged (escapes included), and end to end: a disk partitioned and
// formatted here, its generated fstab parsed back with libmount and every
// source resolved to the right partition, as the OS mount does.
#include <doctest.h>

#include <string>
#include <vector>

#include "host/disk/disk_file.hpp"
#include "host/disk/partitioner.hpp"
#include "host/fs/fstab.hpp"
#include "host/fs/mkfs.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

TEST_CASE("parse_fstab numbers entries by their line in the file") {
  std::string text =
      "# /etc/fstab\n"
      "\n"
      "UUID=1111 /\text4 defaults 0 1\n"
      "  # a comment mentioning /boot/efi\n"
      "LABEL=esp /boot/efi vfat umask=0077 0 1\n"
      "/dev/vdb1 /mnt/with\\040space ext4 nofail 0 2\n"
      "tmpfs /tmp tmpfs defaults 0 0";  // no final newline
  auto e = parse_fstab(text);
  REQUIRE(e.size() == 4);
  CHECK(e[0].source == "UUID=1111");
  CHECK(e[0].target == "/");
  CHECK(e[0].line == 3);
  CHECK(e[0].text == "UUID=1111 /\text4 defaults 0 1");
  CHECK(e[1].line == 5);
  CHECK(e[1].source == "LABEL=esp");
  CHECK(e[2].target == "/mnt/with space");
  CHECK(e[2].line == 6);
  CHECK(e[3].line == 7);
  CHECK(e[3].text == "tmpfs /tmp tmpfs defaults 0 0");
}

TEST_CASE("parse_fstab: the same target twice gets two lines") {
  auto e = parse_fstab("/dev/a1 /data ext4 defaults 0 0\n/dev/a2 /data ext4 defaults 0 0\n");
  REQUIRE(e.size() == 2);
  CHECK(e[0].line == 1);
  CHECK(e[1].line == 2);
}

namespace {

std::vector<DiskPartition> two_partitions() {
  std::vector<DiskPartition> parts(2);
  parts[0].part.number = 1;
  parts[0].part.uuid = "5A1B2C3D-0001-4E5F-8A9B-0C1D2E3F4A5B";
  parts[0].part.label = "esp";
  parts[0].fs = {"vfat", "ABCD-1234", "EFI"};
  parts[1].part.number = 2;
  parts[1].fs = {"ext4", "0f3e1c6a-52a4-4b8e-9d51-3c1f0e2b7a90", "rootfs"};
  return parts;
}

}  // namespace

TEST_CASE("fstab sources: entries in order, tags and quoting as written") {
  auto entries = parse_fstab(
      "# comment\n"
      "UUID=0f3e1c6a-52a4-4b8e-9d51-3c1f0e2b7a90 / ext4 errors=remount-ro 0 1\n"
      "\n"
      "LABEL=EFI /boot/efi vfat umask=0077,nofail 0 2\n");
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].source == "UUID=0f3e1c6a-52a4-4b8e-9d51-3c1f0e2b7a90");
  CHECK(entries[0].target == "/");
  CHECK(entries[1].fstype == "vfat");
  CHECK(entries[1].options == "umask=0077,nofail");
}

TEST_CASE("fstab sources: sources resolve by tag, /dev/disk/by-* path and kernel device name") {
  const auto parts = two_partitions();
  CHECK(resolve_fstab_source("UUID=0F3E1C6A-52A4-4B8E-9D51-3C1F0E2B7A90", parts) == &parts[1]);
  CHECK(resolve_fstab_source("UUID=\"abcd-1234\"", parts) == &parts[0]);
  CHECK(resolve_fstab_source("PARTUUID=5a1b2c3d-0001-4e5f-8a9b-0c1d2e3f4a5b", parts) == &parts[0]);
  CHECK(resolve_fstab_source("LABEL=rootfs", parts) == &parts[1]);
  CHECK(resolve_fstab_source("/dev/disk/by-partlabel/esp", parts) == &parts[0]);
  CHECK(resolve_fstab_source("/dev/vda2", parts) == &parts[1]);
  CHECK(resolve_fstab_source("/dev/nvme0n1p1", parts) == &parts[0]);
  CHECK(resolve_fstab_source("/dev/vda3", parts) == nullptr);
  CHECK(resolve_fstab_source("LABEL=Rootfs", parts) == nullptr);
}

TEST_CASE("fstab sources: a device number too large for an int refers to no partition") {
  // Found by tests/fuzz/fuzz_fstab: std::stoi threw std::out_of_range.
  const auto parts = two_partitions();
  CHECK(resolve_fstab_source("/dev/vda99999999999999999", parts) == nullptr);
  CHECK(resolve_fstab_source("/dev/sda4294967298", parts) == nullptr);
}

namespace {

FstabSpec spec(std::string id, std::string path, std::string type, FstabIdType idt) {
  FstabSpec s;
  s.id = std::move(id);
  s.mount_point = std::move(path);
  s.fs_type = std::move(type);
  s.id_type = idt;
  s.fs_uuid = "fs-" + s.id;
  s.part_uuid = "pu-" + s.id;
  s.part_label = "pl-" + s.id;
  return s;
}

}  // namespace

TEST_CASE("fstab_writer: ids, options, pass numbers and order as ALIC writes them") {
  std::vector<FstabSpec> specs = {
      spec("var", "/var", "xfs", FstabIdType::Uuid),
      spec("esp", "/boot/efi", "fat32", FstabIdType::PartUuid),
      spec("root", "/", "ext4", FstabIdType::PartLabel),
      spec("swap", "", "swap", FstabIdType::PartUuid),
      spec("home", "/home", "btrfs", FstabIdType::Uuid),
  };
  specs[0].options = "noatime,nodev";
  specs[4].btrfs_subvolume = "@home";
  specs[4].options = "compress=zstd";
  specs[2].part_label = "root fs";  // escaped
  CHECK(fstab_text(specs) ==
        "# /etc/fstab: written by imgrecipe from the storage layout\n"
        "PARTLABEL=root\\040fs / ext4 defaults 0 1\n"
        "PARTUUID=pu-esp /boot/efi vfat defaults 0 2\n"
        "UUID=fs-home /home btrfs compress=zstd,subvol=@home 0 2\n"
        "UUID=fs-var /var xfs noatime,nodev 0 2\n"
        "PARTUUID=pu-swap none swap sw 0 0\n");
  CHECK(parse_fstab_id_type("part-label") == FstabIdType::PartLabel);
  CHECK_THROWS_WITH_AS(parse_fstab_id_type("label"), doctest::Contains("unknown idType 'label'"), Error);
}

TEST_CASE("fstab_writer: usage errors name the filesystem") {
  auto err = [](std::vector<FstabSpec> v) {
    try {
      fstab_text(v);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Usage);
      return std::string(e.what());
    }
    FAIL("no error");
    return std::string();
  };
  auto a = spec("a", "/data", "ext4", FstabIdType::PartLabel);
  a.part_label.clear();
  CHECK(err({a}) == "filesystem 'a': idType set to 'part-label' but the partition label is not known");
  CHECK(err({spec("a", "data", "ext4", FstabIdType::Uuid)}) == "filesystem 'a': mount path 'data' is not absolute");
  CHECK(err({spec("a", "/my data", "ext4", FstabIdType::Uuid)}).find("whitespace") != std::string::npos);
  CHECK(err({spec("a", "/a:b", "ext4", FstabIdType::Uuid)}).find("':'") != std::string::npos);
  CHECK(err({spec("a", "/x", "ext4", FstabIdType::Uuid), spec("b", "/x", "xfs", FstabIdType::Uuid)}) ==
        "filesystem 'b': duplicate mount path '/x'");
  auto o = spec("a", "/x", "ext4", FstabIdType::Uuid);
  o.options = "ro, noatime";
  CHECK(err({o}).find("whitespace") != std::string::npos);
  auto b = spec("h", "/home", "btrfs", FstabIdType::Uuid);
  b.btrfs_subvolume = "@home";
  b.options = "noatime,subvol=@x";
  CHECK(err({b}).find("subvol=") != std::string::npos);
  b.options = "subvolid=5";
  CHECK(err({b}).find("subvolid=") != std::string::npos);
}

namespace {

void check_same(const std::vector<FstabEntry>& back, const std::vector<FstabEntry>& want) {
  REQUIRE(back.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(back[i].source == want[i].source);
    CHECK(back[i].target == want[i].target);
    CHECK(back[i].fstype == want[i].fstype);
    CHECK(back[i].options == want[i].options);
    CHECK(back[i].dump == want[i].dump);
    CHECK(back[i].pass == want[i].pass);
  }
}

}  // namespace

TEST_CASE("fstab: escaping is octal for space, tab, newline and backslash, and reverses") {
  CHECK(fstab_escape("a b\\tc") == "a\\040b\\134tc");
  CHECK(fstab_escape("x\ty\n") == "x\\011y\\012");
  CHECK(fstab_escape("UUID=ab-12,subvol=@") == "UUID=ab-12,subvol=@");
  CHECK(fstab_unescape("a\\040b\\134tc") == "a b\\tc");
  CHECK(fstab_unescape("\\04") == "\\04");  // not three octal digits: as written
  CHECK(fstab_unescape("\\089") == "\\089");
  for (std::string s : {"", "plain", " lead", "trail ", "a\tb\nc", "back\\slash", "\\040 literal"})
    CHECK(fstab_unescape(fstab_escape(s)) == s);
}

TEST_CASE("fstab: entries written then parsed come back the same, escaped fields included") {
  std::vector<FstabEntry> entries(4);
  entries[0] = {"PARTLABEL=root fs", "/", "ext4", "defaults", 0, 1, 0, ""};
  entries[1] = {"LABEL=my data", "/srv/my data", "xfs", "noatime,nofail", 1, 2, 0, ""};
  entries[2] = {"UUID=0f3e1c6a-52a4-4b8e-9d51-3c1f0e2b7a90", "/home", "btrfs", "compress=zstd,subvol=@home dir", 0, 2,
                0, ""};
  entries[3] = {"/dev/disk/by-label/back\\slash\ttab", "none", "swap", "sw", 0, 0, 0, ""};
  const std::string text = format_fstab(entries, "written by a test");
  CHECK(text.rfind("# written by a test\n", 0) == 0);
  CHECK(text.find("PARTLABEL=root\\040fs / ext4 defaults 0 1\n") != std::string::npos);
  CHECK(text.find("LABEL=my\\040data /srv/my\\040data xfs noatime,nofail 1 2\n") != std::string::npos);
  CHECK(text.find("subvol=@home\\040dir 0 2\n") != std::string::npos);
  CHECK(text.find("/dev/disk/by-label/back\\134slash\\011tab none swap sw 0 0\n") != std::string::npos);
  const std::vector<FstabEntry> back = parse_fstab(text);
  check_same(back, entries);
  for (size_t i = 0; i < back.size(); ++i) CHECK(back[i].line == static_cast<int>(i) + 2);  // after the comment
  // A second round changes nothing.
  CHECK(format_fstab(back, "written by a test") == text);
}

TEST_CASE("fstab: a layout's fstab parses back to the entries it was written from") {
  std::vector<FstabSpec> specs = {
      spec("root", "/", "ext4", FstabIdType::PartLabel),
      spec("home", "/home", "btrfs", FstabIdType::Uuid),
      spec("esp", "/boot/efi", "fat32", FstabIdType::PartUuid),
      spec("swap", "", "swap", FstabIdType::PartLabel),
  };
  specs[0].part_label = "root fs";
  specs[1].btrfs_subvolume = "@home with space";
  specs[3].part_label = "swap\\area";
  const std::vector<FstabEntry> want = fstab_entries(specs);
  REQUIRE(want.size() == 4);
  CHECK(want[0].source == "PARTLABEL=root fs");  // entries hold fields unescaped
  CHECK(want[2].options == "subvol=@home with space");
  CHECK(want[3].source == "PARTLABEL=swap\\area");
  check_same(parse_fstab(fstab_text(specs)), want);
}

TEST_CASE("fstab: writing an entry without a source or target is refused") {
  CHECK_THROWS_AS(format_fstab({{"", "/", "ext4", "defaults", 0, 1, 0, ""}}), Error);
  CHECK_THROWS_AS(format_fstab({{"UUID=x", "", "ext4", "defaults", 0, 1, 0, ""}}), Error);
  CHECK(format_fstab({{"UUID=x", "/", "", "", 0, 1, 0, ""}}) == "UUID=x / auto defaults 0 1\n");
}

TEST_CASE("fstab_writer: a generated fstab resolves to the partitions of a real disk") {
  TempDir dir;
  auto disk = DiskFile::create(dir / "disk.raw", 96 * kMiB);
  disk->keep();
  DiskLayout l;
  PartitionSpec esp, root, data;
  esp.id = "esp";
  esp.type = "esp";
  esp.size = 8 * kMiB;
  esp.label = "ESP";
  root.id = "root";
  root.type = "root";
  root.size = 40 * kMiB;
  root.label = "root-a";
  data.id = "data";
  data.grow = true;
  data.label = "state";
  l.partitions = {esp, root, data};
  PartitionTable t = write_partition_table(disk->path(), l, TargetArch::X86_64);
  MkfsOptions vfat;
  vfat.type = FsType::Vfat;
  make_filesystem({disk->path(), t.partitions[0].start, t.partitions[0].size}, vfat);
  MkfsOptions ext4;
  make_filesystem({disk->path(), t.partitions[1].start, t.partitions[1].size}, ext4);
  make_filesystem({disk->path(), t.partitions[2].start, t.partitions[2].size}, ext4);

  std::vector<DiskPartition> parts = probe_partitions(disk->path(), t);
  REQUIRE(parts.size() == 3);
  const FstabIdType kinds[] = {FstabIdType::Uuid, FstabIdType::PartUuid, FstabIdType::PartLabel};
  const char* paths[] = {"/boot/efi", "/", "/var/lib/state"};
  for (FstabIdType esp_kind : kinds) {
    std::vector<FstabSpec> specs;
    for (int i = 0; i < 3; ++i) {
      FstabSpec s;
      s.id = l.partitions[i].id;
      s.mount_point = paths[i];
      s.fs_type = i == 0 ? "vfat" : "ext4";
      s.id_type = i == 0 ? esp_kind : kinds[i];
      s.fs_uuid = parts[i].fs.uuid;
      s.part_uuid = parts[i].part.uuid;
      s.part_label = parts[i].part.label;
      specs.push_back(s);
    }
    std::vector<FstabEntry> back = parse_fstab(fstab_text(specs));
    REQUIRE(back.size() == 3);
    CHECK(back[0].target == "/");
    CHECK(back[1].target == "/boot/efi");
    CHECK(back[2].target == "/var/lib/state");
    const int want[] = {1, 0, 2};  // partition index of each line
    for (int i = 0; i < 3; ++i) {
      const DiskPartition* p = resolve_fstab_source(back[i].source, parts);
      REQUIRE_MESSAGE(p != nullptr, back[i].source);
      CHECK(p->part.number == parts[want[i]].part.number);
    }
    CHECK(back[1].source.rfind(esp_kind == FstabIdType::Uuid       ? "UUID="
                               : esp_kind == FstabIdType::PartUuid ? "PARTUUID="
                                                                   : "PARTLABEL=",
                               0) == 0);
  }
}
