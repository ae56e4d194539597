// `imgrecipe inject-files` (ALIC's, alic-reference §1.5): its usage text and
// flag checks. The work is the built-in recipe recipes/inject_files.lua.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace imgrecipe::cli {

extern const char* const kInjectFilesUsage;

// The recipe parameters for the given flags (paths made absolute), or a
// usage error naming the flag. `output-path` is already folded into
// `output-image-file`.
std::map<std::string, std::string> inject_files_params(const std::map<std::string, std::string>& flags,
                                                       const std::vector<std::string>& positional,
                                                       const std::map<std::string, std::vector<std::string>>& lists);

}  // namespace imgrecipe::cli
