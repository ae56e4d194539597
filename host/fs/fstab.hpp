// /etc/fstab: an image's fstab read (libmount) and its sources matched to the
// image's partitions, and fstab written from a storage layout. One model of
// an entry and one escaping rule (octal, \040 for a space) for both.
//
// Written as ALIC's writer does (imagegen installutils addEntryToFstab):
// entries sorted by mount path (so a parent comes before what is mounted
// inside it), options "defaults" when none are given, dump 0, pass 1 for "/"
// and 2 for every other filesystem (vfat included). Swap: mount point "none",
// options "sw", pass 0 (ALIC writes 2; there is nothing for fsck to check on
// swap).
#pragma once

#include <string>
#include <vector>

#include "host/disk/partition_probe.hpp"

namespace imgrecipe {

// One line of fstab, its fields unescaped.
struct FstabEntry {
  std::string source;   // UUID=..., PARTLABEL=..., /dev/vda2, ...
  std::string target;   // the mount point; "none" for swap
  std::string fstype;
  std::string options;
  int dump = 0;
  int pass = 0;         // fsck order
  int line = 0;         // parsed: 1-based line in the file (0 if not found)
  std::string text;     // parsed: that line as written, for messages
};

// The entries of an fstab, in file order. Usage error if libmount cannot
// parse it.
std::vector<FstabEntry> parse_fstab(const std::string& text);

// The fstab text of `entries`, in their order, each field escaped; `comment`,
// if not empty, as a first "# " line. Usage error for an entry without source
// or target.
std::string format_fstab(const std::vector<FstabEntry>& entries, const std::string& comment = "");

// fstab's escaping of a field, as libmount reads it: space, tab, newline and
// backslash as three octal digits ("a b" <-> "a\040b").
std::string fstab_escape(const std::string& field);
std::string fstab_unescape(const std::string& field);

// The partition an fstab source names (UUID=, PARTUUID=, LABEL=, PARTLABEL=,
// quoted or not, /dev/disk/by-*/, or a kernel name such as /dev/sda2 by its
// partition number); nullptr if none.
const DiskPartition* resolve_fstab_source(const std::string& source, const std::vector<DiskPartition>& parts);

// ---- fstab from a storage layout ----

// How fstab names the device (ALIC mountPoint.idType; default part-uuid).
enum class FstabIdType { PartUuid, Uuid, PartLabel };

// "part-uuid", "uuid", "part-label"; usage error otherwise.
FstabIdType parse_fstab_id_type(const std::string& name);

struct FstabSpec {
  std::string id;           // the partition or filesystem id, for errors
  std::string mount_point;  // absolute path; ignored for swap
  std::string fs_type;      // ext4, xfs, vfat (fat32 is written vfat), btrfs, swap
  FstabIdType id_type = FstabIdType::PartUuid;
  std::string fs_uuid;      // filesystem UUID / vfat volume ID
  std::string part_uuid;    // PARTUUID
  std::string part_label;   // PARTLABEL
  std::string options;      // comma-separated, no whitespace; empty: defaults
  std::string btrfs_subvolume;  // adds subvol=<path>
};

// The entries for a layout, in the order they are written. Usage errors
// (naming the id) for a relative or duplicate mount path, whitespace, ':' or
// ',' in a path, whitespace in options, an id type whose id is missing,
// subvol=/subvolid= in options of a subvolume.
std::vector<FstabEntry> fstab_entries(const std::vector<FstabSpec>& specs);

// format_fstab of fstab_entries, under a comment saying imgrecipe wrote it.
std::string fstab_text(const std::vector<FstabSpec>& specs);

}  // namespace imgrecipe
