// Writes a new partition table (GPT or MBR) with libfdisk from a layout.
// Placement rules follow ALIC's storage.disks (alic-reference.md §2.2, §5.1):
// every start, end and size is a multiple of 1 MiB, the first MiB holds the
// table, the last partition may `grow` to the end, and GPT keeps its backup
// in the last MiB.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host/disk/partition_table.hpp"

namespace imgrecipe {

enum class TableType { Gpt, Mbr };
// Selects the Discoverable Partitions Specification GUIDs of root, usr and
// their verity partitions.
enum class TargetArch { X86_64, Arm64 };

// "x86_64"/"amd64" and "aarch64"/"arm64"; anything else is a usage error.
TargetArch parse_target_arch(const std::string& name);

struct PartitionSpec {
  std::string id;                      // names the partition in errors
  std::optional<std::uint64_t> start;  // bytes; default 1 MiB, else the previous end
  std::optional<std::uint64_t> end;    // bytes, exclusive; not with size
  std::optional<std::uint64_t> size;   // bytes
  bool grow = false;                   // last partition only: to the end of the disk
  // An ALIC type name (esp, bios-grub, root, root-verity, usr, usr-verity,
  // var, home, srv, swap, tmp, xbootldr, linux-generic), a GUID (GPT) or an
  // MBR code "0x83" (MBR).
  std::string type = "linux-generic";
  std::string label;  // GPT PARTLABEL (at most 36 UTF-16 units; ASCII here)
  std::string uuid;   // GPT PARTUUID; empty: random
  bool bootable = false;  // MBR active flag (legacy BIOS boot code looks for it)
};

struct DiskLayout {
  TableType table = TableType::Gpt;
  // GPT disk GUID or MBR disk identifier ("0x1234abcd"); empty: random.
  std::string disk_id;
  std::vector<PartitionSpec> partitions;
};

// A partition with its final place and type string (GPT GUID upper case, or
// MBR code "0x83").
struct PlacedPartition {
  int number = 0;
  std::uint64_t start = 0;  // bytes
  std::uint64_t size = 0;   // bytes
  std::string type;
};

constexpr std::uint64_t kMiB = 1024 * 1024;

// The GPT type GUID (upper case) of an ALIC type name or a GUID; usage error
// for anything else.
std::string gpt_type_guid(const std::string& type, TargetArch arch);
// The MBR type code (e.g. 0x83) of a name that makes sense on MBR or "0xNN".
unsigned mbr_type_code(const std::string& type);

// Pure: where every partition goes on a disk of `disk_size` bytes. Throws
// ErrorKind::Usage naming the partition when the layout is invalid or does
// not fit.
std::vector<PlacedPartition> place_partitions(const DiskLayout& layout, std::uint64_t disk_size, TargetArch arch);

// The smallest disk the layout fits on (its last end plus the GPT backup
// MiB), for layouts whose last partition has an end or size. Usage error if
// the last partition grows.
std::uint64_t required_disk_size(const DiskLayout& layout);

// Writes the layout as a new table on `path` (a disk file or whole-disk
// device; its size is the disk size), replacing any table there, and
// returns the table read back.
PartitionTable write_partition_table(const std::string& path, const DiskLayout& layout, TargetArch arch);

// Whether `s` is a GUID written 8-4-4-4-12 in hex.
bool is_guid(const std::string& s);

}  // namespace imgrecipe
