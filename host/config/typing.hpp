// Untyped YAML tree + schema -> typed Node tree. Reports unknown and duplicate
// keys, wrong kinds, bad enum values, missing required keys and whatever the
// schema's per-field checks and per-object rules find.
#pragma once

#include "host/config/config.hpp"
#include "host/config/problems.hpp"
#include "host/config/schema.hpp"
#include "host/config/yaml_reader.hpp"

namespace imgrecipe::config {

// Nodes with problems are left out of the result, so rules never see them.
Node type_tree(const RawNode& raw, const schema::Type& type, Problems& problems);

// YAML 1.2 integer as ALIC's YAML library reads it (0x/0o/0b prefixes, a
// leading 0 meaning octal, '_' separators ignored).
std::optional<long long> parse_yaml_int(std::string_view text);

}  // namespace imgrecipe::config
