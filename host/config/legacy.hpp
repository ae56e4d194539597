// The legacy Mariner Image Customizer schema: a top-level `SystemConfig:` with
// PascalCase keys. It is translated into the current schema's untyped tree,
// keeping every position, so typing and rules then report against the
// original file. Each legacy key used yields a note saying how to write it today.
#pragma once

#include <string>
#include <vector>

#include "host/config/config.hpp"
#include "host/config/problems.hpp"
#include "host/config/yaml_reader.hpp"

namespace imgrecipe::config {

struct LegacyNote {
  Mark mark;
  std::string message;  // "SystemConfig.Hostname is the legacy schema: write os.hostname"
};

// A map with a `SystemConfig` key.
bool is_legacy(const RawNode& root);

// The current-schema tree. Unknown legacy keys and shapes that cannot be
// translated go to `problems`, with suggestions for likely typos.
RawNode translate_legacy(const RawNode& root, Problems& problems, std::vector<LegacyNote>& notes);

}  // namespace imgrecipe::config
