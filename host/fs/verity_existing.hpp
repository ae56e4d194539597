// The dm-verity devices of an image that already uses verity (ALIC's
// findVerityPartitionsFromCmdline, alic-reference.md §4.7): fstab mounts them
// from /dev/mapper/<name>; the partitions behind them are named by the
// kernel command line (systemd.verity_<name>_data/_hash/_options, roothash=
// or usrhash=) and the verity superblock gives the layout of the tree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/disk/partition_probe.hpp"

namespace imgrecipe {

struct ExistingVerity {
  std::string name;      // "root" or "usr": /dev/mapper/<name>
  int data_partition = 0;
  int hash_partition = 0;  // = data_partition for inline verity
  std::string root_hash;   // from roothash= / usrhash=
  std::string data_id_type;  // part-uuid, uuid, part-label (as on the command line)
  std::string hash_id_type;
  std::string corruption = "io-error";  // io-error, ignore, panic, restart
  std::string hash_signature_path;      // root-hash-signature= option, if any
  std::uint64_t hash_offset = 0;        // hash-offset= option (inline)
  std::uint64_t data_size = 0;          // bytes hashed (superblock data blocks * block size)
  std::string hash_algorithm;
  std::uint32_t data_block_size = 0;
  std::uint32_t hash_block_size = 0;
};

// The arguments of the first `linux`/`linuxefi` line of a grub.cfg (quotes
// around a whole argument removed); empty if there is none.
std::vector<std::string> grub_cfg_kernel_args(const std::string& text);

// The mapper names ("root", "usr") the kernel arguments open with
// systemd-veritysetup (a systemd.verity_<name>_data= argument), in order.
std::vector<std::string> verity_names_in_args(const std::vector<std::string>& args);

// Resolves verity device `name` from the kernel arguments against the image's
// partitions and reads its superblock (`image` is the disk file). Usage
// errors name the missing or unmatched argument.
ExistingVerity find_existing_verity(const std::string& name, const std::vector<std::string>& args,
                                    const std::vector<DiskPartition>& parts, const std::string& image);

}  // namespace imgrecipe
