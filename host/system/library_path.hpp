// Where recipes, libraries and Lua tests find the modules they `require`:
// one order for `run`, `test` and `translate` (docs/recipes.md, "The
// library path").
#pragma once

#include <string>
#include <vector>

namespace imgrecipe {

struct LibraryDir {
  std::string dir;     // absolute
  std::string origin;  // why it is searched, shown when a module is not found
};

// The process environment the path depends on.
struct LibraryEnv {
  std::string lib_path;       // IMGRECIPE_LIB_PATH, colon-separated
  std::string xdg_data_home;  // XDG_DATA_HOME
  std::string home;           // HOME
};

LibraryEnv library_env();

// In order: `recipe_dir` (the recipe's or test file's directory; none when
// empty), each `--lib-path` as given, each IMGRECIPE_LIB_PATH entry, the
// per-user directory ($XDG_DATA_HOME/imgrecipe/lib, else
// ~/.local/share/imgrecipe/lib), then /usr/local/share/imgrecipe/lib and
// /usr/share/imgrecipe/lib. Relative entries are made absolute; a directory
// listed twice is searched at its first place only. Directories need not
// exist.
std::vector<LibraryDir> library_path(const std::string& recipe_dir, const std::vector<std::string>& lib_paths,
                                     const LibraryEnv& env);

}  // namespace imgrecipe
