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
  // Declared so that clang with libstdc++ does not check std::pair<.., Node>
  // for implicit default construction while Node is still incomplete.
  Node() = default;
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
  Node* find(std::string_view key) { return const_cast<Node*>(std::as_const(*this).find(key)); }
};

struct Config {
  Node root;
  std::string path;  // absolute path of the config file
  std::string dir;   // its directory (relative paths in the config resolve against it)
  // Things the user should change but that still load, e.g. legacy-schema keys:
  // "<file>:<line>:<column>: <what and how to write it today>".
  std::vector<std::string> warnings;
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

// A config with its baseConfigs chain (preview feature `base-configs`).
struct ConfigChain {
  // Base configs first, depth-first in the order listed, the loaded config last.
  std::vector<Config> configs;
  // The merged view (alic-reference §2.9): last config wins for scalars,
  // bootloader.resetType strongest wins, output.artifacts.items merged without
  // duplicates, input.image taken whole from the last config that sets it,
  // lists concatenated in chain order. Relative paths stay relative to the
  // config they came from, so path-valued last-wins fields are made absolute.
  Node merged;
  std::vector<std::string> warnings;  // of every config, in chain order

  const Config& top() const { return configs.back(); }
};

// Loads `path` and every config its baseConfigs name (relative to the naming
// config's directory). Preview features are merged over the whole chain before
// gates are checked. Fails on cycles ("cycle detected in baseConfigs") and on
// `storage` in more than one config. All problems of all files are listed.
ConfigChain load_chain(const std::string& path);

// A package-list file (os.packages.installLists etc.): `packages: [a, b]`,
// strict like a config. Throws Error(ErrorKind::Config) with file:line:column.
std::vector<std::string> load_package_list(const std::string& path);

// Keys used in the config that ALIC accepts but imgrecipe does not implement
// yet, at the outermost such key (e.g. "os.users", "storage"), without list
// indices, each reported once with the mark of its first use.
struct Unsupported {
  std::string key;
  Mark mark;
  std::string path;  // the config file that uses it
};
std::vector<Unsupported> unsupported_keys(const Config& cfg);
// Over every config of the chain, in chain order.
std::vector<Unsupported> unsupported_keys(const ConfigChain& chain);

}  // namespace imgrecipe::config
