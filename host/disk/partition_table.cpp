#include "host/disk/partition_table.hpp"

#include <libfdisk/libfdisk.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

struct ContextDeleter {
  void operator()(fdisk_context* c) const { fdisk_unref_context(c); }
};
struct TableDeleter {
  void operator()(fdisk_table* t) const { fdisk_unref_table(t); }
};

}  // namespace

PartitionTable read_partition_table(const std::string& path) {
  std::unique_ptr<fdisk_context, ContextDeleter> cxt(fdisk_new_context());
  if (!cxt) throw_system("fdisk_new_context", path, ENOMEM);
  if (int rc = fdisk_assign_device(cxt.get(), path.c_str(), 1); rc != 0) throw_system("read partition table", path, -rc);
  if (!fdisk_has_label(cxt.get())) {
    throw Error(ErrorKind::Usage, fmt::format("{}: no partition table found (expected GPT or MBR)", path));
  }
  PartitionTable out;
  fdisk_label* lb = fdisk_get_label(cxt.get(), nullptr);
  out.type = fdisk_label_get_name(lb);
  out.sector_size = fdisk_get_sector_size(cxt.get());
  out.disk_size = fdisk_get_nsectors(cxt.get()) * out.sector_size;
  char* id = nullptr;
  if (fdisk_get_disklabel_id(cxt.get(), &id) == 0 && id != nullptr) {
    out.id = lower(id);
    free(id);
  }
  fdisk_table* raw = nullptr;
  if (int rc = fdisk_get_partitions(cxt.get(), &raw); rc != 0) throw_system("list partitions", path, -rc);
  std::unique_ptr<fdisk_table, TableDeleter> table(raw);
  std::string mbr_id = out.id.rfind("0x", 0) == 0 ? out.id.substr(2) : out.id;
  for (size_t i = 0; i < fdisk_table_get_nents(table.get()); ++i) {
    fdisk_partition* pa = fdisk_table_get_partition(table.get(), i);
    if (pa == nullptr || !fdisk_partition_has_start(pa) || !fdisk_partition_has_size(pa)) continue;
    if (fdisk_partition_is_container(pa)) continue;  // MBR extended container
    Partition p;
    p.number = static_cast<int>(fdisk_partition_get_partno(pa)) + 1;
    p.start = fdisk_partition_get_start(pa) * out.sector_size;
    p.size = fdisk_partition_get_size(pa) * out.sector_size;
    if (fdisk_parttype* t = fdisk_partition_get_type(pa)) {
      if (const char* s = fdisk_parttype_get_string(t)) p.type = lower(s);
      else p.type = fmt::format("0x{:02x}", fdisk_parttype_get_code(t));
      if (const char* n = fdisk_parttype_get_name(t)) p.type_name = n;
    }
    if (const char* u = fdisk_partition_get_uuid(pa)) p.uuid = lower(u);
    else if (out.type == "dos") p.uuid = fmt::format("{}-{:02x}", mbr_id, p.number);
    if (const char* n = fdisk_partition_get_name(pa)) p.label = n;
    out.partitions.push_back(std::move(p));
  }
  std::sort(out.partitions.begin(), out.partitions.end(),
            [](const Partition& a, const Partition& b) { return a.number < b.number; });
  return out;
}

bool is_esp_type(const std::string& type) {
  return type == "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" || type == "0xef";
}

}  // namespace imgrecipe
