#include <doctest/doctest.h>

#include "host/system/library_path.hpp"

using imgrecipe::LibraryEnv;
using imgrecipe::library_path;

namespace {
std::vector<std::string> dirs(const std::vector<imgrecipe::LibraryDir>& p) {
  std::vector<std::string> out;
  for (const auto& d : p) out.push_back(d.dir);
  return out;
}
}  // namespace

TEST_CASE("library_path: documented order") {
  LibraryEnv env{"/env/a::/env/b", "", "/home/u"};
  auto p = library_path("/recipes", {"/cli/one", "/cli/two"}, env);
  CHECK(dirs(p) == std::vector<std::string>{"/recipes", "/cli/one", "/cli/two", "/env/a", "/env/b",
                                             "/home/u/.local/share/imgrecipe/lib", "/usr/local/share/imgrecipe/lib",
                                             "/usr/share/imgrecipe/lib"});
  CHECK(p[0].origin == "the recipe's directory");
  CHECK(p[1].origin == "--lib-path");
  CHECK(p[3].origin == "IMGRECIPE_LIB_PATH");
}

TEST_CASE("library_path: XDG_DATA_HOME, duplicates, no recipe directory") {
  LibraryEnv env{"/cli/one/", "/xdg", "/home/u"};
  auto p = library_path("", {"/cli/one"}, env);
  CHECK(dirs(p) == std::vector<std::string>{"/cli/one", "/xdg/imgrecipe/lib", "/usr/local/share/imgrecipe/lib",
                                             "/usr/share/imgrecipe/lib"});
  // A relative XDG_DATA_HOME is invalid (XDG base directory spec): HOME's default.
  auto q = library_path("", {}, LibraryEnv{"", "rel", "/home/u"});
  CHECK(q[0].dir == "/home/u/.local/share/imgrecipe/lib");
}

TEST_CASE("library_path: relative directories are made absolute") {
  auto p = library_path("", {"lib/../mylib"}, LibraryEnv{});
  CHECK(p[0].dir.front() == '/');
  CHECK(p[0].dir.find("..") == std::string::npos);
  CHECK(p[0].dir.size() > 6);
  CHECK(p[0].dir.substr(p[0].dir.size() - 6) == "/mylib");
}
