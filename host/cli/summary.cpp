// The summary line: the size is the output's apparent size (a sparse raw
// image counts its full length, as the disk it becomes).
#include "host/cli/summary.hpp"

#include <cstdint>
#include <filesystem>

#include <fmt/format.h>

namespace imgrecipe::cli {

std::string summary_line(const std::vector<lua::RecipeOutput>& outputs, double seconds) {
  if (outputs.empty()) return fmt::format("done in {:.1f} s (no output written)", seconds);
  const auto& o = outputs.back();
  std::error_code ec;
  uintmax_t size = 0;
  if (std::filesystem::is_directory(o.path, ec)) {
    for (auto it = std::filesystem::recursive_directory_iterator(o.path, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) size += it->file_size(ec);
    }
  } else {
    size = std::filesystem::file_size(o.path, ec);
  }
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(size);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  std::string human = u == 0 ? fmt::format("{} B", size) : fmt::format("{:.1f} {}", v, units[u]);
  return fmt::format("done: {} ({}, {}) in {:.1f} s", o.path, o.format, human, seconds);
}

}  // namespace imgrecipe::cli
