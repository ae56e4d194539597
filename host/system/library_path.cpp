#include "host/system/library_path.hpp"

#include <cstdlib>
#include <filesystem>

namespace imgrecipe {
namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

void add(std::vector<LibraryDir>& out, const std::string& dir, const std::string& origin) {
  if (dir.empty()) return;
  std::string abs = std::filesystem::absolute(dir).lexically_normal().string();
  if (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  for (const auto& d : out) {
    if (d.dir == abs) return;
  }
  out.push_back({abs, origin});
}

}  // namespace

LibraryEnv library_env() {
  return {env_or_empty("IMGRECIPE_LIB_PATH"), env_or_empty("XDG_DATA_HOME"), env_or_empty("HOME")};
}

std::vector<LibraryDir> library_path(const std::string& recipe_dir, const std::vector<std::string>& lib_paths,
                                     const LibraryEnv& env) {
  std::vector<LibraryDir> out;
  add(out, recipe_dir, "the recipe's directory");
  for (const auto& d : lib_paths) add(out, d, "--lib-path");
  size_t start = 0;
  while (start <= env.lib_path.size() && !env.lib_path.empty()) {
    size_t end = env.lib_path.find(':', start);
    if (end == std::string::npos) end = env.lib_path.size();
    add(out, env.lib_path.substr(start, end - start), "IMGRECIPE_LIB_PATH");
    start = end + 1;
  }
  // XDG base directories: a relative XDG_DATA_HOME is invalid and ignored.
  if (!env.xdg_data_home.empty() && env.xdg_data_home[0] == '/') {
    add(out, env.xdg_data_home + "/imgrecipe/lib", "per-user ($XDG_DATA_HOME)");
  } else if (!env.home.empty()) {
    add(out, env.home + "/.local/share/imgrecipe/lib", "per-user");
  }
  add(out, "/usr/local/share/imgrecipe/lib", "system");
  add(out, "/usr/share/imgrecipe/lib", "system");
  return out;
}

}  // namespace imgrecipe
