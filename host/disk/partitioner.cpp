#include "host/disk/partitioner.hpp"

#include <libfdisk/libfdisk.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe {
namespace {

constexpr std::uint64_t kSector = 512;
// Backup GPT: 32 sectors of entries plus the header in the last sector.
constexpr std::uint64_t kGptBackupBytes = 33 * kSector;
constexpr std::uint64_t kMbrMaxSectors = 0xffffffffull;

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "5 MiB" when whole, else bytes.
std::string show(std::uint64_t bytes) {
  if (bytes % kMiB == 0) return fmt::format("{} MiB", bytes / kMiB);
  return fmt::format("{} bytes", bytes);
}

struct TypeGuids {
  const char* name;
  const char* x86_64;
  const char* arm64;  // same as x86_64 when not per-architecture
};

// ALIC's type names (api/partitiontype*.go); root, usr and their verity
// partitions are per-architecture (Discoverable Partitions Specification).
constexpr TypeGuids kGptTypes[] = {
    {"esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
    {"bios-grub", "21686148-6449-6E6F-744E-656564454649", "21686148-6449-6E6F-744E-656564454649"},
    {"root", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"},
    {"root-verity", "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5", "DF3300CE-D69F-4C92-978C-9BFB0F38D820"},
    {"usr", "8484680C-9521-48C6-9C11-B0720656F69E", "B0E01050-EE5F-4390-949A-9101B17104E9"},
    {"usr-verity", "77FF5F63-E7B6-4633-ACF4-1565B864C0E6", "6E11A4E7-FBCA-4DED-B9E9-E1A512BB664E"},
    {"var", "4D21B016-B534-45C2-A9FB-5C16E091FD2D", "4D21B016-B534-45C2-A9FB-5C16E091FD2D"},
    {"home", "933AC7E1-2EB4-4F13-B844-0E14E2AEF915", "933AC7E1-2EB4-4F13-B844-0E14E2AEF915"},
    {"srv", "3B8F8425-20E0-4F3B-907F-1A25A76F98E8", "3B8F8425-20E0-4F3B-907F-1A25A76F98E8"},
    {"swap", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"},
    {"tmp", "7EC6F557-3BC5-4ACA-B293-16EF5DF639D1", "7EC6F557-3BC5-4ACA-B293-16EF5DF639D1"},
    {"xbootldr", "BC13C2FF-59E6-4262-A352-B275FD6F7172", "BC13C2FF-59E6-4262-A352-B275FD6F7172"},
    {"linux-generic", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
};

// MBR has no codes for bios-grub (GPT only) or the verity partitions.
const std::map<std::string, unsigned>& mbr_codes() {
  static const std::map<std::string, unsigned> codes = {
      {"esp", 0xef},  {"swap", 0x82}, {"xbootldr", 0xea}, {"linux-generic", 0x83}, {"root", 0x83},
      {"usr", 0x83},  {"var", 0x83},  {"home", 0x83},     {"srv", 0x83},           {"tmp", 0x83},
  };
  return codes;
}

std::string type_names() {
  std::string s;
  for (const auto& t : kGptTypes) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

std::string part_name(const PartitionSpec& p, std::size_t index) {
  return p.id.empty() ? fmt::format("#{}", index + 1) : fmt::format("'{}'", p.id);
}

struct ContextDeleter {
  void operator()(fdisk_context* c) const { fdisk_unref_context(c); }
};
struct PartitionDeleter {
  void operator()(fdisk_partition* p) const { fdisk_unref_partition(p); }
};
struct TypeDeleter {
  void operator()(fdisk_parttype* t) const { fdisk_unref_parttype(t); }
};

void check_fdisk(int rc, const std::string& op, const std::string& target) {
  if (rc < 0) throw_system(op, target, -rc);
  if (rc > 0) throw Error(ErrorKind::System, fmt::format("{} {}: libfdisk refused ({})", op, target, rc));
}

}  // namespace

TargetArch parse_target_arch(const std::string& name) {
  if (name == "x86_64" || name == "amd64") return TargetArch::X86_64;
  if (name == "aarch64" || name == "arm64") return TargetArch::Arm64;
  throw_usage(fmt::format("unknown target architecture '{}' (expected x86_64/amd64 or aarch64/arm64)", name));
}

bool is_guid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

std::string gpt_type_guid(const std::string& type, TargetArch arch) {
  for (const auto& t : kGptTypes) {
    if (type == t.name) return arch == TargetArch::Arm64 ? t.arm64 : t.x86_64;
  }
  if (is_guid(type)) return upper(type);
  throw_usage(fmt::format("partition type '{}' is unknown and is not a GUID (known: {})", type, type_names()));
}

unsigned mbr_type_code(const std::string& type) {
  auto it = mbr_codes().find(type);
  if (it != mbr_codes().end()) return it->second;
  if (type.size() == 4 && type.rfind("0x", 0) == 0 && std::isxdigit(static_cast<unsigned char>(type[2])) &&
      std::isxdigit(static_cast<unsigned char>(type[3]))) {
    unsigned code = static_cast<unsigned>(std::stoul(type.substr(2), nullptr, 16));
    if (code == 0 || code == 0x05 || code == 0x0f || code == 0x85) {
      throw_usage(fmt::format("MBR partition type {} is empty or an extended container, not supported", type));
    }
    return code;
  }
  throw_usage(fmt::format("partition type '{}' has no MBR code (MBR takes esp, swap, xbootldr, linux-generic, "
                          "root, usr, var, home, srv, tmp or a code like 0x83)",
                          type));
}

std::vector<PlacedPartition> place_partitions(const DiskLayout& layout, std::uint64_t disk_size, TargetArch arch) {
  const bool gpt = layout.table == TableType::Gpt;
  const auto& parts = layout.partitions;
  if (parts.empty()) throw_usage("the disk layout has no partitions");
  if (!gpt && parts.size() > 4) {
    throw_usage(fmt::format("an MBR disk holds at most 4 (primary) partitions; the layout has {}", parts.size()));
  }
  if (gpt && parts.size() > 128) throw_usage("a GPT disk holds at most 128 partitions");
  if (!layout.disk_id.empty()) {
    bool ok = gpt ? is_guid(layout.disk_id) : [&] {
      std::string h = layout.disk_id.rfind("0x", 0) == 0 ? layout.disk_id.substr(2) : layout.disk_id;
      return h.size() == 8 && std::all_of(h.begin(), h.end(), [](unsigned char c) { return std::isxdigit(c); });
    }();
    if (!ok) {
      throw_usage(fmt::format("disk id '{}' is not {}", layout.disk_id,
                              gpt ? "a GUID" : "an MBR disk identifier (8 hex digits, e.g. 0x1234abcd)"));
    }
  }
  // Room for partitions: GPT keeps its backup in the last MiB (what sfdisk's
  // alignment leaves too); MBR may use the disk to its last whole MiB.
  std::uint64_t usable = 0;
  if (disk_size > (gpt ? kGptBackupBytes : 0)) usable = (disk_size - (gpt ? kGptBackupBytes : 0)) / kMiB * kMiB;
  if (!gpt) usable = std::min(usable, kMbrMaxSectors * kSector / kMiB * kMiB);

  std::vector<PlacedPartition> out;
  std::set<std::string> uuids;
  std::uint64_t prev_end = kMiB;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const PartitionSpec& p = parts[i];
    const std::string name = "partition " + part_name(p, i);
    const bool last = i + 1 == parts.size();
    if (p.end && p.size) throw_usage(name + ": cannot specify both end and size");
    if (p.grow && (p.end || p.size)) throw_usage(name + ": grow cannot be combined with end or size");
    const bool grows = p.grow || (!p.end && !p.size);
    if (grows && !last) {
      throw_usage(name + (p.grow ? ": is not the last partition but is set to grow"
                                 : ": has no end or size but is not the last partition"));
    }
    for (auto [what, v] : {std::pair{"start", p.start}, {"end", p.end}, {"size", p.size}}) {
      if (v && *v % kMiB != 0) throw_usage(fmt::format("{}: {} {} is not a multiple of 1 MiB", name, what, *v));
    }
    if (p.size && *p.size == 0) throw_usage(name + ": size can't be 0");
    const std::uint64_t start = p.start.value_or(prev_end);
    if (start < kMiB) throw_usage(name + ": starts inside the first 1 MiB, which is reserved for the partition table");
    if (start < prev_end) {
      throw_usage(fmt::format("{}: starts at {}, which overlaps partition {} (it ends at {})", name, show(start),
                              part_name(parts[i - 1], i - 1), show(prev_end)));
    }
    std::uint64_t end = p.end ? *p.end : p.size ? start + *p.size : usable;
    if (end <= start) {
      if (grows) {
        throw_usage(fmt::format("{}: starts at {} but the disk ({}) has no room left to grow into", name, show(start),
                                show(disk_size)));
      }
      throw_usage(fmt::format("{}: ends at {}, not after its start {}", name, show(end), show(start)));
    }
    if (end > usable) {
      throw_usage(fmt::format("{}: ends at {} but the disk ({}) has room for partitions up to {}{}", name, show(end),
                              show(disk_size), show(usable),
                              gpt ? " (the last MiB holds the backup GPT)" : " (MBR addresses at most 2 TiB)"));
    }
    PlacedPartition placed;
    placed.number = static_cast<int>(i) + 1;
    placed.start = start;
    placed.size = end - start;
    if (gpt) {
      placed.type = gpt_type_guid(p.type, arch);
      if (p.label.size() > 36) throw_usage(fmt::format("{}: label '{}' is longer than 36 characters", name, p.label));
      if (!std::all_of(p.label.begin(), p.label.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; })) {
        throw_usage(fmt::format("{}: label '{}' must be printable ASCII", name, p.label));
      }
      if (!p.uuid.empty()) {
        if (!is_guid(p.uuid)) throw_usage(fmt::format("{}: PARTUUID '{}' is not a GUID", name, p.uuid));
        if (!uuids.insert(lower(p.uuid)).second)
          throw_usage(fmt::format("{}: PARTUUID {} is used twice", name, p.uuid));
      }
      if (p.bootable) throw_usage(name + ": the bootable flag exists only on MBR disks");
    } else {
      placed.type = fmt::format("0x{:02x}", mbr_type_code(p.type));
      if (!p.label.empty()) throw_usage(name + ": MBR partitions have no label (PARTLABEL is GPT only)");
      if (!p.uuid.empty()) {
        throw_usage(name + ": an MBR PARTUUID is the disk id and the partition number; set the disk id instead");
      }
    }
    out.push_back(placed);
    prev_end = end;
  }
  return out;
}

std::uint64_t required_disk_size(const DiskLayout& layout) {
  if (layout.partitions.empty()) throw_usage("the disk layout has no partitions");
  std::uint64_t end = kMiB;
  for (std::size_t i = 0; i < layout.partitions.size(); ++i) {
    const PartitionSpec& p = layout.partitions[i];
    std::uint64_t start = p.start.value_or(end);
    if (p.end) end = *p.end;
    else if (p.size) end = start + *p.size;
    else throw_usage("either the disk needs a size or the last partition an end or size (partition " +
                     part_name(p, i) + " grows)");
  }
  return layout.table == TableType::Gpt ? end + kMiB : end;
}

PartitionTable write_partition_table(const std::string& path, const DiskLayout& layout, TargetArch arch) {
  std::unique_ptr<fdisk_context, ContextDeleter> cxt(fdisk_new_context());
  if (!cxt) throw_system("fdisk_new_context", path, ENOMEM);
  fdisk_disable_dialogs(cxt.get(), 1);
  check_fdisk(fdisk_assign_device(cxt.get(), path.c_str(), 0), "open for partitioning", path);
  const bool gpt = layout.table == TableType::Gpt;
  const std::uint64_t ss = fdisk_get_sector_size(cxt.get());
  if (ss != kSector) throw_unsupported(fmt::format("{}: sector size {} (only 512-byte sectors)", path, ss));
  const std::uint64_t disk_size = fdisk_get_nsectors(cxt.get()) * ss;
  std::vector<PlacedPartition> placed = place_partitions(layout, disk_size, arch);

  check_fdisk(fdisk_create_disklabel(cxt.get(), gpt ? "gpt" : "dos"), "create partition table", path);
  if (!layout.disk_id.empty()) {
    std::string id = gpt ? upper(layout.disk_id)
                         : (layout.disk_id.rfind("0x", 0) == 0 ? layout.disk_id : "0x" + layout.disk_id);
    check_fdisk(fdisk_set_disklabel_id_from_string(cxt.get(), id.c_str()), "set disk id " + id, path);
  }
  fdisk_label* lb = fdisk_get_label(cxt.get(), nullptr);
  for (std::size_t i = 0; i < placed.size(); ++i) {
    const PlacedPartition& pp = placed[i];
    const PartitionSpec& spec = layout.partitions[i];
    const std::string what = fmt::format("partition {} of", part_name(spec, i));
    std::unique_ptr<fdisk_partition, PartitionDeleter> pa(fdisk_new_partition());
    if (!pa) throw_system("fdisk_new_partition", path, ENOMEM);
    fdisk_partition_set_start(pa.get(), pp.start / ss);
    fdisk_partition_set_size(pa.get(), pp.size / ss);
    fdisk_partition_set_partno(pa.get(), static_cast<size_t>(pp.number - 1));
    std::unique_ptr<fdisk_parttype, TypeDeleter> type(fdisk_label_parse_parttype(lb, pp.type.c_str()));
    if (!type) throw Error(ErrorKind::Internal, fmt::format("libfdisk cannot parse partition type {}", pp.type));
    check_fdisk(fdisk_partition_set_type(pa.get(), type.get()), "set type of " + what, path);
    if (gpt && !spec.label.empty())
      check_fdisk(fdisk_partition_set_name(pa.get(), spec.label.c_str()), "label " + what, path);
    if (gpt && !spec.uuid.empty()) {
      check_fdisk(fdisk_partition_set_uuid(pa.get(), upper(spec.uuid).c_str()), "set PARTUUID of " + what, path);
    }
    check_fdisk(fdisk_add_partition(cxt.get(), pa.get(), nullptr), "add " + what, path);
    if (spec.bootable) {
      check_fdisk(fdisk_toggle_partition_flag(cxt.get(), static_cast<size_t>(pp.number - 1), DOS_FLAG_ACTIVE),
                  "set bootable flag of " + what, path);
    }
  }
  check_fdisk(fdisk_write_disklabel(cxt.get()), "write partition table", path);
  check_fdisk(fdisk_deassign_device(cxt.get(), 0), "close", path);
  return read_partition_table(path);
}

}  // namespace imgrecipe
