// imgrecipe translate: a YAML config as a Lua recipe (docs/translate.md).
#pragma once

#include <string>

namespace imgrecipe::cli {

extern const char* const kTranslateUsage;

// Prints the recipe translating `config` to stdout, or writes it to
// `output` (atomically) when not empty. Needs no root.
int translate(const std::string& config, const std::string& output);

}  // namespace imgrecipe::cli
