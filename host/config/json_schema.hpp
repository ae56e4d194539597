// A JSON Schema (draft 2020-12) of the YAML config, generated from the same
// tables (schema.hpp) that typing and `validate` use, for YAML language
// servers. It describes what the loader accepts as shapes: keys, types,
// enums, ranges, required keys, the scalar forms of some objects and the
// older forms of additionalFiles / extraCommandLine. Rules spanning several
// fields and value checks beyond enums stay with `imgrecipe validate`.
#pragma once

#include <string>

namespace imgrecipe::config {

// The schema of the top-level config, pretty-printed with a final newline.
std::string json_schema();

}  // namespace imgrecipe::config
