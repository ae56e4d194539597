// YAML text -> untyped tree with positions. Typing happens later against the
// schema, so this layer keeps what typing needs: whether a scalar was quoted,
// every key (duplicates included) and every position.
#pragma once

#include <string>
#include <vector>

#include "host/config/config.hpp"
#include "host/config/problems.hpp"

namespace imgrecipe::config {

// Limits that keep a file from growing without bound in memory: sequences
// and maps nested at most kMaxDepth deep, at most kMaxExpandedNodes values
// copied by aliases, anchors and merge keys (a "billion laughs" file), and at
// most kMaxValues values written in the text (about 150 MiB in memory).
inline constexpr size_t kMaxDepth = 64;
inline constexpr size_t kMaxExpandedNodes = 100'000;
inline constexpr size_t kMaxValues = 500'000;

struct RawKey {
  std::string text;
  Mark mark;
};

struct RawNode {
  enum class Kind { Null, Scalar, Sequence, Map };
  Kind kind = Kind::Null;
  std::string value;  // Scalar
  // Plain (unquoted, untagged) scalars get their type from their text, as in
  // YAML's core schema: only those can be integers or booleans.
  bool plain = false;
  std::vector<RawKey> keys;     // Map: keys[i] holds items[i]
  std::vector<RawNode> items;   // Sequence items, or Map values
  Mark mark;
};

struct RawDocument {
  bool present = false;  // false for a file with no YAML document at all, or a syntax error
  RawNode root;
};

// Parses the first YAML document of `text`. Syntax errors, a NUL byte, a text
// larger than kMaxConfigBytes and the limits above are added to `problems`
// (and `present` stays false); a text with no document adds none.
// Later documents are ignored with a warning, as ALIC only reads the first.
RawDocument read_yaml(const std::string& text, const std::string& display_path, Problems& problems);

}  // namespace imgrecipe::config
