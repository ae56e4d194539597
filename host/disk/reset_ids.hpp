// ALIC's `storage.resetPartitionsUuidsType: reset-all` (alic-reference §4.5)
// on an image file: every PARTUUID and every filesystem UUID made new. It
// comes in two halves so fstab can be rewritten to the new ids while the
// image still mounts by the old ones: plan (new random ids, nothing
// changed), then apply.
#pragma once

#include <string>
#include <vector>

namespace imgrecipe {

struct IdChange {
  int number = 0;  // partition number
  std::string old_partuuid, new_partuuid;  // lower case
  std::string fstype;                      // "" when the partition has no filesystem
  std::string old_uuid, new_uuid;          // as blkid shows them; empty without a filesystem
};

// New random ids for every partition of a GPT image (vfat volume IDs as
// "ABCD-1234"). Changes nothing. Partitions without a filesystem (bios-grub,
// unformatted) only get a new PARTUUID; a filesystem whose UUID cannot be
// reset (swap, verity hash, LUKS, ...) and an MBR table are usage errors.
std::vector<IdChange> plan_id_reset(const std::string& image);

// Writes the planned ids (the image must not be in use): PARTUUIDs through
// libfdisk, filesystem UUIDs with each filesystem's tool (host/fs/fs_uuid).
void apply_id_reset(const std::string& image, const std::vector<IdChange>& plan);

}  // namespace imgrecipe
