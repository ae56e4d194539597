// The partitions of a disk image file with the filesystem each holds: its
// partition table (read_partition_table) and a blkid probe of every
// partition's region of the file. No loop devices.
#pragma once

#include <string>
#include <vector>

#include "host/disk/partition_table.hpp"
#include "host/disk/probe.hpp"

namespace imgrecipe {

struct DiskPartition {
  Partition part;
  FsInfo fs;
};

// The partitions of `table` (read from `image` by read_partition_table) with
// the filesystem found in each.
std::vector<DiskPartition> probe_partitions(const std::string& image, const PartitionTable& table);

}  // namespace imgrecipe
