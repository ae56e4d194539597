// imgrecipe translate: the Lua side (imgrecipe.translate) renders the
// config's plan, the same one `imgrecipe build` runs; this file only reads
// arguments and writes the text.
#include "host/cli/translate.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "lua/runtime.hpp"

namespace imgrecipe::cli {

const char* const kTranslateUsage = R"(imgrecipe translate — a YAML config as a Lua recipe (docs/translate.md)

Usage:
  imgrecipe translate CONFIG.yaml [-o RECIPE.lua]

Prints a readable Lua recipe that makes the same stdlib calls, in the same
order, as `imgrecipe build CONFIG.yaml`: named steps in ALIC's order, one
call per config item, each under a comment naming the YAML key and its
file:line. Relative paths of the config are resolved against the config's
directory, as build does. The recipe takes the parameters input, output and
format (defaulting to the config's values):
  imgrecipe run RECIPE.lua --param input=IN --param output=OUT --param format=FMT
Needs no root.

Options:
  -o, --output F                write the recipe to F (atomically) instead of stdout
  --config-file F               the config (instead of the positional argument)
)";

int translate(const std::string& config, const std::string& output) {
  const std::string text = lua::call_string("imgrecipe.translate", "render", {config});
  if (output.empty() || output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  // A temporary beside the file, renamed over it: never a half-written recipe.
  const std::string tmp = output + ".tmp-imgrecipe";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) throw_errno("write the recipe", tmp);
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), output.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    errno = err;
    throw_errno("write the recipe", output);
  }
  return 0;
}

}  // namespace imgrecipe::cli
