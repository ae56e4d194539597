// fs/fstab_writer: fstab from a layout (pure), then end to end: a disk
// partitioned and formatted here, its generated fstab parsed back with
// libmount (parse_fstab) and every source resolved to the right partition
// (resolve_fstab_source, as the OS mount does).
#include <doctest.h>

#include "host/disk/disk_file.hpp"
#include "host/disk/partitioner.hpp"
#include "host/fs/fstab_writer.hpp"
#include "host/fs/mkfs.hpp"
#include "host/fs/os_mount.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

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
