// What the CLI needs from the Lua layer, in plain C++ types.
#pragma once

#include <map>
#include <string>

namespace imgrecipe::lua {

struct RecipeRun {
  // A recipe file, or a built-in recipe name prefixed with "builtin:".
  std::string recipe;
  std::map<std::string, std::string> params;
  std::string build_dir;  // absolute
  std::string work_dir;   // this run's directory inside build_dir
};

// The API version recipes can require (`api = N` in the recipe table).
constexpr int kApiVersion = 1;

// Runs the recipe to completion. Throws imgrecipe::Error on failure.
void run_recipe(const RecipeRun& run);

}  // namespace imgrecipe::lua
