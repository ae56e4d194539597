#include "host/fs/digest.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "host/system/digest.hpp"
#include "host/system/error.hpp"

namespace imgrecipe {

std::string sha256_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(ErrorKind::Usage, fmt::format("cannot hash '{}': not a regular file", path));
  }
  return hash_file(HashAlgo::Sha256, path);
}

std::map<std::string, std::string> sha256_tree(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(ErrorKind::Usage, fmt::format("cannot hash '{}': not a directory", dir));
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory()) continue;
    out[it->path().lexically_relative(dir).string()] = hash_file(HashAlgo::Sha256, it->path().string());
  }
  return out;
}

}  // namespace imgrecipe
