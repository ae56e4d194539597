#include "host/disk/reset_ids.hpp"

#include <fmt/format.h>

#include <set>

#include "host/disk/partition_edit.hpp"
#include "host/disk/partition_table.hpp"
#include "host/disk/probe.hpp"
#include "host/fs/fs_uuid.hpp"
#include "host/system/error.hpp"
#include "host/system/random.hpp"

namespace imgrecipe {
namespace {

// A version-4 GUID (lower case), as a new PARTUUID or filesystem UUID.
std::string new_guid() {
  std::string u = random_uuid();
  u[14] = '4';
  const char variant[] = "89ab";
  u[19] = variant[std::stoi(u.substr(19, 1), nullptr, 16) & 3];
  return u;
}

std::string new_fat_serial() {
  std::string hex;
  while (hex.empty() || hex == "00000000") {
    hex = random_uuid().substr(0, 8);
  }
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return hex.substr(0, 4) + "-" + hex.substr(4);
}

}  // namespace

std::vector<IdChange> plan_id_reset(const std::string& image) {
  static const std::set<std::string> kResettable = {"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat"};
  PartitionTable table = read_partition_table(image);
  if (table.type != "gpt") {
    throw Error(ErrorKind::Usage, "resetPartitionsUuidsType reset-all: the image's partition table is " + table.type +
                                      "; only GPT is supported");
  }
  std::vector<IdChange> out;
  for (const auto& p : table.partitions) {
    IdChange c;
    c.number = p.number;
    c.old_partuuid = p.uuid;
    c.new_partuuid = new_guid();
    FsInfo fs = probe_filesystem(image, p.start, p.size);
    if (!fs.type.empty() && kResettable.count(fs.type) == 0) {
      throw Error(ErrorKind::Usage,
                  fmt::format("resetPartitionsUuidsType reset-all: partition {} holds {}, whose UUID cannot be reset",
                              p.number, fs.type));
    }
    c.fstype = fs.type;
    c.old_uuid = fs.uuid;
    if (!fs.type.empty()) c.new_uuid = fs.type == "vfat" ? new_fat_serial() : new_guid();
    out.push_back(c);
  }
  return out;
}

void apply_id_reset(const std::string& image, const std::vector<IdChange>& plan) {
  PartitionTable table = read_partition_table(image);
  for (const auto& c : plan) {
    const Partition* part = nullptr;
    for (const auto& p : table.partitions) {
      if (p.number == c.number) part = &p;
    }
    if (part == nullptr) throw Error(ErrorKind::Usage, fmt::format("reset-all: the image has no partition {}", c.number));
    if (!c.new_uuid.empty()) reset_filesystem_uuid(image, part->start, part->size, c.new_uuid);
    set_partition_uuid(image, c.number, c.new_partuuid);
  }
}

}  // namespace imgrecipe
