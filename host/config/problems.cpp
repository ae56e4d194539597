#include "host/config/problems.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "host/security/names.hpp"

namespace imgrecipe::config {

void Problems::add(Mark mark, std::string path, std::string message) {
  // A path is made of the config's own keys, which may be huge or hold
  // control characters.
  if (path.size() > 200 || std::any_of(path.begin(), path.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      })) {
    path = names::shown(path, 200);
  }
  list_.push_back({mark, std::move(path), std::move(message)});
}

std::string Problems::render(const std::string& file) const {
  std::vector<Problem> sorted = list_;
  // Unknown positions sort last; ties keep discovery order.
  auto key = [](const Mark& m) {
    return std::pair(m.line == 0 ? INT32_MAX : m.line, m.column);
  };
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](const Problem& a, const Problem& b) { return key(a.mark) < key(b.mark); });
  std::string out;
  size_t shown = 0;
  for (const Problem& p : sorted) {
    if (shown++ == kMaxShown) {
      out += fmt::format("\n{}: {} more problems not shown", file, sorted.size() - kMaxShown);
      break;
    }
    if (!out.empty()) out += '\n';
    out += file;
    if (p.mark.line > 0) out += fmt::format(":{}:{}", p.mark.line, p.mark.column);
    out += ": ";
    if (!p.path.empty()) out += p.path + ": ";
    out += p.message;
  }
  return out;
}

std::string join_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return fmt::format("{}.{}", parent, key);
}

std::string index_path(const std::string& parent, size_t index) {
  return fmt::format("{}[{}]", parent, index);
}

}  // namespace imgrecipe::config
