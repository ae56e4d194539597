#include "host/fs/digest.hpp"

#include <filesystem>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "host/exec/process.hpp"
#include "host/system/error.hpp"

namespace imgrecipe {
namespace {

// sha256sum -z prints "<hex>  <name>\0" per file, names never escaped.
std::vector<std::string> digests(const std::vector<std::string>& files) {
  std::vector<std::string> argv = {"sha256sum", "-z", "--"};
  argv.insert(argv.end(), files.begin(), files.end());
  std::string out = capture(argv);
  std::vector<std::string> hashes;
  std::stringstream ss(out);
  std::string record;
  while (std::getline(ss, record, '\0')) {
    if (record.size() < 64) continue;
    hashes.push_back(record.substr(0, 64));
  }
  if (hashes.size() != files.size()) {
    throw Error(ErrorKind::Internal, fmt::format("sha256sum returned {} digests for {} files", hashes.size(), files.size()));
  }
  return hashes;
}

}  // namespace

std::string sha256_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(ErrorKind::Usage, fmt::format("cannot hash '{}': not a regular file", path));
  }
  return digests({path}).front();
}

std::map<std::string, std::string> sha256_tree(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(ErrorKind::Usage, fmt::format("cannot hash '{}': not a directory", dir));
  std::vector<std::string> files, rel;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory()) continue;
    files.push_back(it->path().string());
    rel.push_back(it->path().lexically_relative(dir).string());
  }
  std::map<std::string, std::string> out;
  if (files.empty()) return out;
  auto hashes = digests(files);
  for (size_t i = 0; i < files.size(); ++i) out[rel[i]] = hashes[i];
  return out;
}

}  // namespace imgrecipe
