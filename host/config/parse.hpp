// One config file from text to a typed, checked tree. Shared by load_string()
// (single file) and load_chain() (baseConfigs), which must check preview gates
// only once the whole chain's preview features are known.
#pragma once

#include <string>
#include <vector>

#include "host/config/config.hpp"
#include "host/config/problems.hpp"

namespace imgrecipe::config {

struct ParsedConfig {
  Config cfg;
  std::string display;  // the file as messages name it
  Problems problems;
  // baseConfigs, typed on its own: followed even when the rest of the file
  // has problems, so the user sees those of every file at once.
  Node base_configs;
};

// Reads YAML, translates the legacy SystemConfig schema, types against the schema.
ParsedConfig parse_config_text(const std::string& text, const std::string& display_path, const std::string& dir);

// Whole-config rules (validate.cpp), with `previews` enabled besides the
// config's own. Skipped if typing already found problems.
void check_config(ParsedConfig& parsed, const std::vector<std::string>& previews);

// Throws Error(ErrorKind::Config) listing the problems of every file, if any.
void throw_problems(const std::vector<const ParsedConfig*>& files);

}  // namespace imgrecipe::config
