// The image config: ALIC's YAML (or JSON) format, parsed strictly into a typed
// tree and validated against the complete ALIC 1.7 schema (schema.hpp).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imgrecipe::config {

struct Mark {
  int line = 0;  // 1-based; 0 = unknown
  int column = 0;
};

struct Node {
  enum class Kind { Null, String, Int, Bool, Sequence, Map };
  Kind kind = Kind::Null;
  std::string str;  // String value (for Int/Bool also the original text)
  long long i = 0;  // Int value
  bool b = false;   // Bool value
  std::vector<Node> items;                          // Sequence
  std::vector<std::pair<std::string, Node>> fields;  // Map, in document order
  Mark mark;      // position of the value
  Mark key_mark;  // position of the key that holds this value (if any)

  // Map lookup; nullptr if absent (or if this is not a map).
  const Node* find(std::string_view key) const;
};

struct Config {
  Node root;
  std::string path;  // absolute path of the config file
  std::string dir;   // its directory (relative paths in the config resolve against it)
};

// Parses YAML (or JSON) strictly and validates it against the ALIC 1.7 schema.
// Explicitly null values are dropped, as ALIC treats them as absent. "String or
// object" fields (mountPoint, input.image.oci, oci.platform) always come out in
// their object form.
// On any problem throws Error(ErrorKind::Config) listing every problem, one per
// line, as "<file>:<line>:<column>: <field.path>: <message>".
// Messages name the file as `path` was given; Config::path is made absolute.
Config load_file(const std::string& path);
// For text not read from a file: Config::path is `display_path` as given.
Config load_string(const std::string& text, const std::string& display_path, const std::string& dir);

// Keys used in the config that ALIC accepts but imgrecipe does not implement
// yet, at the outermost such key (e.g. "os.users", "storage"), without list
// indices, each reported once with the mark of its first use.
struct Unsupported {
  std::string key;
  Mark mark;
};
std::vector<Unsupported> unsupported_keys(const Config& cfg);

}  // namespace imgrecipe::config
