// Helpers shared by the unit tests: temporary directories, small file I/O and
// config lookups.
#pragma once

#include <doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>

#include "host/config/config.hpp"

namespace imgrecipe::test {

// A fresh directory under the system temp dir, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "imgrecipe-test-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

// Writes `text` to `path`, creating missing parent directories.
inline void write_file(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Bytes on disk (holes are not counted).
inline std::uint64_t allocated(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

// lstat, failing the test if the path is missing.
inline struct stat lstat_of(const std::string& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

// The config node at a key path, failing the test if a key is missing.
inline const config::Node& get(const config::Node& n, std::initializer_list<std::string_view> keys) {
  const config::Node* cur = &n;
  for (std::string_view k : keys) {
    cur = cur->find(k);
    REQUIRE_MESSAGE(cur != nullptr, "missing key ", k);
  }
  return *cur;
}

}  // namespace imgrecipe::test
