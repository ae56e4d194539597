// Whole-storage rules of ALIC (alic-reference §5.1, §5.2): partition
// geometry, id references between partitions, filesystems and verity, boot
// partitions, mount points and verity mounts.
#pragma once

#include "host/config/config.hpp"
#include "host/config/problems.hpp"

namespace imgrecipe::config {

void storage_layout_rules(const Node& root, Problems& problems);

}  // namespace imgrecipe::config
