// Collects every problem found in a config so the user sees them all at once.
#pragma once

#include <string>
#include <vector>

#include "host/config/config.hpp"

namespace imgrecipe::config {

struct Problem {
  Mark mark;
  std::string path;  // dotted field path, e.g. "os.additionalFiles[1].permissions"; may be empty
  std::string message;
};

class Problems {
 public:
  void add(Mark mark, std::string path, std::string message);
  bool empty() const { return list_.empty(); }
  size_t size() const { return list_.size(); }
  const std::vector<Problem>& list() const { return list_; }
  // One line per problem, in document order:
  // "<file>:<line>:<column>: <path>: <message>"; after kMaxShown problems,
  // one line says how many more there are.
  std::string render(const std::string& file) const;

  static constexpr size_t kMaxShown = 100;

 private:
  std::vector<Problem> list_;
};

// "a" + "b" -> "a.b"; "" + "b" -> "b".
std::string join_path(const std::string& parent, std::string_view key);
// "a" + 3 -> "a[3]".
std::string index_path(const std::string& parent, size_t index);

}  // namespace imgrecipe::config
