// Whole-file reads of host files (sources, key and password files).
#pragma once

#include <fstream>
#include <iterator>
#include <string>

#include "host/system/error.hpp"

namespace imgrecipe {

// The content of `path`; a failure throws "<op> <path>: <strerror>".
inline std::string read_host_file(const std::string& path, const std::string& op = "read") {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_errno(op, path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace imgrecipe
