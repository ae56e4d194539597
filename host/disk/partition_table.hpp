// Partition tables read with libfdisk (GPT and MBR).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace imgrecipe {

struct Partition {
  int number = 0;            // 1-based, as in /dev/sdaN
  std::uint64_t start = 0;   // bytes
  std::uint64_t size = 0;    // bytes
  std::string type;          // GPT type GUID (lower case) or MBR type as "0x83"
  std::string type_name;     // human name from libfdisk, e.g. "EFI System"
  std::string uuid;          // PARTUUID (GPT GUID, or MBR "<diskid>-<nn>")
  std::string label;         // GPT PARTLABEL
};

struct PartitionTable {
  std::string type;          // "gpt" or "dos"
  std::string id;            // disk GUID or MBR id
  std::uint64_t sector_size = 512;
  std::uint64_t disk_size = 0;
  std::vector<Partition> partitions;
};

// Throws if `path` has no partition table libfdisk recognises.
PartitionTable read_partition_table(const std::string& path);

bool is_esp_type(const std::string& type);

}  // namespace imgrecipe
