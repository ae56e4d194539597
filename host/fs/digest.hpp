// SHA-256 of host files and trees, hashed in process (host/system/digest).
#pragma once

#include <map>
#include <string>

namespace imgrecipe {

// Lower-case hex digest of one host file.
std::string sha256_file(const std::string& path);
// Digests of every regular file below `dir` (symlinked directories are not
// entered), keyed by path relative to `dir`.
std::map<std::string, std::string> sha256_tree(const std::string& dir);

}  // namespace imgrecipe
