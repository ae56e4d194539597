// Changes to one partition of an existing table (GPT or MBR) through
// libfdisk: its size (the start never moves) and its PARTUUID.
#pragma once

#include <cstdint>
#include <string>

#include "host/disk/partition_table.hpp"

namespace imgrecipe {

// Sets partition `number` (1-based) to `size` bytes (a multiple of 512),
// keeping its start, type, label and PARTUUID. Usage error if there is no
// such partition or it would overlap the next one or leave the disk.
PartitionTable set_partition_size(const std::string& disk, int number, std::uint64_t size);

// Gives partition `number` the PARTUUID `uuid` (a GUID; empty: a new random
// one). GPT only: an MBR PARTUUID is the disk identifier plus the number, so
// on MBR use reset_partition_uuids. Returns the table read back.
PartitionTable set_partition_uuid(const std::string& disk, int number, const std::string& uuid = "");

// New random PARTUUIDs for every partition: new GUIDs on GPT, a new disk
// identifier on MBR (which all MBR PARTUUIDs derive from).
PartitionTable reset_partition_uuids(const std::string& disk);

}  // namespace imgrecipe
