// What the CLI needs from the Lua layer, in plain C++ types.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace imgrecipe::lua {

struct RecipeRun {
  // A recipe file, or a built-in recipe name prefixed with "builtin:".
  std::string recipe;
  std::map<std::string, std::string> params;
  // Repeatable parameters: Lua arrays in ctx.params (recipe spec `list = true`).
  std::map<std::string, std::vector<std::string>> list_params;
  std::string build_dir;  // absolute
  std::string work_dir;   // this run's directory inside build_dir
  // --lib-path directories; the full library path is host/system/library_path.
  std::vector<std::string> lib_paths;
};

// The API version recipes can require (`api = N` in the recipe table).
constexpr int kApiVersion = 1;

// Runs the recipe to completion. Throws imgrecipe::Error on failure.
void run_recipe(const RecipeRun& run);

}  // namespace imgrecipe::lua

namespace imgrecipe::lua {

// Runs Lua test files (each returns a table of test_* functions taking a
// `t` with assertions). Prints one line per test and "N passed, N failed".
// Returns the number of failures. Needs no root.
// `lib_paths`: the --lib-path directories (see host/system/library_path.hpp).
int run_tests(const std::vector<std::string>& files, const std::vector<std::string>& lib_paths = {});

}  // namespace imgrecipe::lua
