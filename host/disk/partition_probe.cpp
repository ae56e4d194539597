#include "host/disk/partition_probe.hpp"

namespace imgrecipe {

std::vector<DiskPartition> probe_partitions(const std::string& image, const PartitionTable& table) {
  std::vector<DiskPartition> out;
  for (const auto& p : table.partitions) out.push_back({p, probe_filesystem(image, p.start, p.size)});
  return out;
}

}  // namespace imgrecipe
