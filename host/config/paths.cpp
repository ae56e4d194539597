#include "host/config/paths.hpp"

#include <vector>

namespace imgrecipe::config {

std::string clean_path(std::string_view path) {
  if (path.empty()) return ".";
  const bool rooted = path.front() == '/';
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(part);  // a relative path may climb above its start
      }
      continue;
    }
    parts.push_back(part);
  }
  std::string out = rooted ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

bool is_local_path(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  std::string cleaned = clean_path(path);
  return cleaned != ".." && cleaned.rfind("../", 0) != 0;
}

}  // namespace imgrecipe::config
