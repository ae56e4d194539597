// /etc/fstab generated from a storage layout (pure). Follows ALIC's writer
// (imagegen installutils addEntryToFstab): entries sorted by mount path (so
// a parent comes before what is mounted inside it), options "defaults" when
// none are given, dump 0, pass 1 for "/" and 2 for every other filesystem
// (vfat included). Swap: mount point "none", options "sw", pass 0 (ALIC
// writes 2; there is nothing for fsck to check on swap).
#pragma once

#include <string>
#include <vector>

namespace imgrecipe {

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

// The fstab text. Usage errors (naming the id) for a relative or duplicate
// mount path, whitespace, ':' or ',' in a path, whitespace in options, an
// id type whose id is missing, subvol=/subvolid= in options of a subvolume.
std::string fstab_text(const std::vector<FstabSpec>& specs);

}  // namespace imgrecipe
