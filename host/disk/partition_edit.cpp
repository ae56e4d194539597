#include "host/disk/partition_edit.hpp"

#include <libfdisk/libfdisk.h>
#include <sys/random.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include <fmt/format.h>

#include "host/disk/partitioner.hpp"
#include "host/system/error.hpp"
#include "host/system/random.hpp"

namespace imgrecipe {
namespace {

struct ContextDeleter {
  void operator()(fdisk_context* c) const { fdisk_unref_context(c); }
};
struct PartitionDeleter {
  void operator()(fdisk_partition* p) const { fdisk_unref_partition(p); }
};
using Context = std::unique_ptr<fdisk_context, ContextDeleter>;

void check(int rc, const std::string& op, const std::string& target) {
  if (rc < 0) throw_system(op, target, -rc);
  if (rc > 0) throw Error(ErrorKind::System, fmt::format("{} {}: libfdisk refused ({})", op, target, rc));
}

Context open_table(const std::string& disk) {
  Context cxt(fdisk_new_context());
  if (!cxt) throw_system("fdisk_new_context", disk, ENOMEM);
  fdisk_disable_dialogs(cxt.get(), 1);
  check(fdisk_assign_device(cxt.get(), disk.c_str(), 0), "open partition table", disk);
  if (!fdisk_has_label(cxt.get())) throw_usage(fmt::format("{}: no partition table found", disk));
  return cxt;
}

std::unique_ptr<fdisk_partition, PartitionDeleter> get_partition(fdisk_context* cxt, const std::string& disk,
                                                                  int number) {
  fdisk_partition* pa = nullptr;
  if (number < 1 || fdisk_get_partition(cxt, static_cast<size_t>(number - 1), &pa) != 0 || pa == nullptr ||
      !fdisk_partition_has_start(pa)) {
    fdisk_unref_partition(pa);
    throw_usage(fmt::format("{} has no partition {}", disk, number));
  }
  return std::unique_ptr<fdisk_partition, PartitionDeleter>(pa);
}

PartitionTable write_and_read(Context cxt, const std::string& disk) {
  check(fdisk_write_disklabel(cxt.get()), "write partition table", disk);
  check(fdisk_deassign_device(cxt.get(), 0), "close", disk);
  return read_partition_table(disk);
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// RFC 4122 version 4, as GUIDs on GPT disks are.
std::string random_guid() {
  std::string u = random_uuid();
  u[14] = '4';
  const char variant[] = "89ab";
  u[19] = variant[std::stoi(u.substr(19, 1), nullptr, 16) & 3];
  return upper(u);
}

}  // namespace

PartitionTable set_partition_size(const std::string& disk, int number, std::uint64_t size) {
  Context cxt = open_table(disk);
  const std::uint64_t ss = fdisk_get_sector_size(cxt.get());
  if (size == 0 || size % ss != 0) throw_usage(fmt::format("partition size {} is not a multiple of {}", size, ss));
  auto pa = get_partition(cxt.get(), disk, number);
  const std::uint64_t start = fdisk_partition_get_start(pa.get());
  const std::uint64_t end = start + size / ss;  // exclusive, in sectors
  // The new end must stay before every later partition and the last usable sector.
  std::uint64_t limit = fdisk_get_last_lba(cxt.get()) + 1;
  PartitionTable t = read_partition_table(disk);
  for (const Partition& p : t.partitions) {
    if (p.number != number && p.start / ss >= start) limit = std::min<std::uint64_t>(limit, p.start / ss);
  }
  if (end > limit) {
    throw_usage(fmt::format("{}: partition {} of {} bytes at {} would run past {} (the next partition or the "
                            "end of the usable area)",
                            disk, number, size, start * ss, limit * ss));
  }
  std::unique_ptr<fdisk_partition, PartitionDeleter> change(fdisk_new_partition());
  fdisk_partition_set_size(change.get(), size / ss);
  check(fdisk_set_partition(cxt.get(), static_cast<size_t>(number - 1), change.get()),
        fmt::format("resize partition {} of", number), disk);
  return write_and_read(std::move(cxt), disk);
}

PartitionTable set_partition_uuid(const std::string& disk, int number, const std::string& uuid) {
  if (!uuid.empty() && !is_guid(uuid)) throw_usage(fmt::format("PARTUUID '{}' is not a GUID", uuid));
  Context cxt = open_table(disk);
  if (std::string(fdisk_label_get_name(fdisk_get_label(cxt.get(), nullptr))) != "gpt") {
    throw_usage(fmt::format("{}: an MBR PARTUUID is the disk identifier and the partition number; it cannot be "
                            "set per partition",
                            disk));
  }
  get_partition(cxt.get(), disk, number);
  std::unique_ptr<fdisk_partition, PartitionDeleter> change(fdisk_new_partition());
  const std::string value = uuid.empty() ? random_guid() : upper(uuid);
  check(fdisk_partition_set_uuid(change.get(), value.c_str()), "set PARTUUID", disk);
  check(fdisk_set_partition(cxt.get(), static_cast<size_t>(number - 1), change.get()),
        fmt::format("set PARTUUID of partition {} of", number), disk);
  return write_and_read(std::move(cxt), disk);
}

PartitionTable reset_partition_uuids(const std::string& disk) {
  Context cxt = open_table(disk);
  if (std::string(fdisk_label_get_name(fdisk_get_label(cxt.get(), nullptr))) == "gpt") {
    PartitionTable t = read_partition_table(disk);
    for (const Partition& p : t.partitions) {
      std::unique_ptr<fdisk_partition, PartitionDeleter> change(fdisk_new_partition());
      const std::string value = random_guid();
      check(fdisk_partition_set_uuid(change.get(), value.c_str()), "set PARTUUID", disk);
      check(fdisk_set_partition(cxt.get(), static_cast<size_t>(p.number - 1), change.get()),
            fmt::format("set PARTUUID of partition {} of", p.number), disk);
    }
  } else {
    std::uint32_t id = 0;
    while (id == 0) {
      if (getrandom(&id, sizeof id, 0) != sizeof id) throw_errno("getrandom", "MBR disk identifier");
    }
    const std::string value = fmt::format("0x{:08x}", id);
    check(fdisk_set_disklabel_id_from_string(cxt.get(), value.c_str()), "set disk identifier", disk);
  }
  return write_and_read(std::move(cxt), disk);
}

}  // namespace imgrecipe
