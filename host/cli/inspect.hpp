// `imgrecipe inspect IMAGE [--json]`: what an image holds (partitions,
// filesystems, OS, packages, users), read-only and offline (docs/inspect.md).
#pragma once

#include <string>
#include <vector>

namespace imgrecipe::cli {

// `args`: the image path. `scratch_dir`: where temporary copies go
// (default: $TMPDIR or /var/tmp).
int cmd_inspect(const std::vector<std::string>& args, bool json, const std::string& scratch_dir);

}  // namespace imgrecipe::cli
