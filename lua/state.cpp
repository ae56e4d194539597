// The LuaJIT state: host modules in package.preload, the embedded stdlib
// found by its own searcher (or files under IMGRECIPE_LUA_PATH for
// development), and protected entry with a traceback.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/library_path.hpp"
#include "host/system/log.hpp"
#include "lua/boundary.hpp"
#include "lua/embedded.hpp"
#include "lua/modules.hpp"
#include "lua/runtime.hpp"
#include "lua/state.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

// Development override: a source tree whose stdlib/ and recipes/ replace
// the embedded copies.
std::string override_path(const std::string& module) {
  const char* root = std::getenv("IMGRECIPE_LUA_PATH");
  if (root == nullptr || *root == '\0') return "";
  std::string rel = module;
  std::string base = std::string(root) + "/stdlib/";
  if (rel.rfind("imgrecipe.recipes.", 0) == 0) {
    rel = rel.substr(std::strlen("imgrecipe.recipes."));
    base = std::string(root) + "/recipes/";
  }
  for (auto& c : rel) {
    if (c == '.') c = '/';
  }
  for (const std::string& cand : {base + rel + ".lua", base + rel + "/init.lua"}) {
    if (std::ifstream(cand).good()) return cand;
  }
  return "";
}

int embedded_searcher(lua_State* L) {
  std::string name = luaL_checkstring(L, 1);
  std::string file = override_path(name);
  if (!file.empty()) {
    if (luaL_loadfilex(L, file.c_str(), "t") != 0) return lua_error(L);
    return 1;
  }
  for (const EmbeddedModule* m = kEmbeddedModules; m->name != nullptr; ++m) {
    if (name == m->name) {
      std::string chunk = "@" + name;  // shown in tracebacks
      if (luaL_loadbuffer(L, m->source, m->size, chunk.c_str()) != 0) return lua_error(L);
      return 1;
    }
  }
  lua_pushliteral(L, "");  // imgrecipe.modules reports the miss

  return 1;
}

// package.preload without the "no field package.preload" line: a module
// that is not found is reported by imgrecipe.modules with the library path.
int preload_searcher(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_getfield(L, -1, name);
  if (lua_isfunction(L, -1)) return 1;
  lua_pushliteral(L, "");
  return 1;
}

int traceback(lua_State* L) {
  // Structured errors keep their table; plain messages get a traceback.
  if (lua_istable(L, 1)) return 1;
  const char* msg = lua_tostring(L, 1);
  lua_getglobal(L, "debug");
  lua_getfield(L, -1, "traceback");
  lua_pushstring(L, msg ? msg : "(error object is not a string)");
  lua_pushinteger(L, 2);
  lua_call(L, 2, 1);
  return 1;
}

int at_panic(lua_State* L) {
  const char* msg = lua_tostring(L, -1);
  log::error("unprotected Lua error: {}", msg ? msg : "?");
  std::abort();
}

// package.loaders: preload, the embedded stdlib, then recipe libraries on
// the library path (imgrecipe.modules: source text only, strict globals).
// No C modules and no LUA_PATH: what a recipe loads depends only on the
// documented library path.
void install_searchers(lua_State* L) {
  lua_getglobal(L, "package");      // [package]
  lua_createtable(L, 3, 0);         // [package, loaders]
  lua_pushcfunction(L, preload_searcher);
  lua_rawseti(L, -2, 1);
  lua_pushcfunction(L, embedded_searcher);
  lua_rawseti(L, -2, 2);
  lua_setfield(L, -2, "loaders");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "path");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
}

// Pushes a traceback handler, then require(module): [tb, module].
void require_with_traceback(lua_State* L, const char* module) {
  lua_pushcfunction(L, traceback);
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  if (lua_pcall(L, 1, 1, 1) != 0) throw to_error(L, -1);
}

// Appends imgrecipe.modules' searcher to package.loaders.
void install_library_searcher(lua_State* L) {
  int top = lua_gettop(L);
  require_with_traceback(L, "imgrecipe.modules");  // [tb, modules]
  lua_getfield(L, -1, "install");
  if (lua_pcall(L, 0, 0, top + 1) != 0) throw to_error(L, -1);
  lua_settop(L, top);
}

// [{dir=, origin=}, ...]
void push_library_path(lua_State* L, const std::vector<LibraryDir>& path) {
  lua_createtable(L, static_cast<int>(path.size()), 0);
  for (size_t i = 0; i < path.size(); ++i) {
    lua_createtable(L, 0, 2);
    set_field(L, "dir", path[i].dir);
    set_field(L, "origin", path[i].origin);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
}

// The directory of a recipe or test file ("" for a built-in recipe).
std::string file_dir(const std::string& file) {
  if (file.rfind("builtin:", 0) == 0) return "";
  std::error_code ec;
  auto p = std::filesystem::weakly_canonical(std::filesystem::absolute(file, ec), ec);
  return ec ? "" : p.parent_path().string();
}

struct State {
  lua_State* L;
  State() : L(luaL_newstate()) {
    if (L == nullptr) throw Error(ErrorKind::Internal, "cannot create the Lua state");
    lua_atpanic(L, at_panic);
    luaL_openlibs(L);
    install_searchers(L);
    preload(L, "imgrecipe.host.log", open_log);
    preload(L, "imgrecipe.host.image", open_image);
    preload(L, "imgrecipe.host.disk", open_disk);
    preload(L, "imgrecipe.host.mount", open_mount);
    preload(L, "imgrecipe.host.files", open_files);
    preload(L, "imgrecipe.host.exec", open_exec);
    preload(L, "imgrecipe.host.config", open_config);
    preload(L, "imgrecipe.host.sys", open_sys);
    preload(L, "imgrecipe.host.packages", open_packages);
    preload(L, "imgrecipe.host.users", open_users);
    preload(L, "imgrecipe.host.names", open_names);
    preload(L, "imgrecipe.host.storage", open_storage);
    preload(L, "imgrecipe.host.cosi", open_cosi);
    preload(L, "imgrecipe.host.squashfs", open_squashfs);
    preload(L, "imgrecipe.host.iso", open_iso);
    preload(L, "imgrecipe.host.verity", open_verity);
    preload(L, "imgrecipe.host.uki", open_uki);
    preload(L, "imgrecipe.host.recipe", open_recipe);
    preload(L, "imgrecipe.host.cpio", open_cpio);
    install_library_searcher(L);
  }
  ~State() { lua_close(L); }
};

}  // namespace

struct LuaState::Impl {
  State state;
};

LuaState::LuaState() : impl_(std::make_unique<Impl>()) {}
LuaState::~LuaState() = default;
lua_State* LuaState::get() const { return impl_->state.L; }

std::vector<RecipeOutput> run_recipe(const RecipeRun& run) {
  State s;
  lua_State* L = s.L;
  require_with_traceback(L, "imgrecipe.runner");  // [tb, runner]
  lua_getfield(L, -1, "main");                            // [tb, runner, main]
  lua_createtable(L, 0, 6);                               // [tb, runner, main, req]
  set_field(L, "recipe", run.recipe);
  set_field(L, "build_dir", run.build_dir);
  set_field(L, "work_dir", run.work_dir);
  set_field(L, "api_version", static_cast<long long>(kApiVersion));
  lua_createtable(L, 0, static_cast<int>(run.params.size() + run.list_params.size()));
  for (const auto& [k, v] : run.params) set_field(L, k.c_str(), v);
  for (const auto& [k, v] : run.list_params) {
    push_string_list(L, v);
    lua_setfield(L, -2, k.c_str());
  }
  lua_setfield(L, -2, "params");
  push_library_path(L, library_path(file_dir(run.recipe), run.lib_paths, library_env()));
  lua_setfield(L, -2, "library_path");
  if (lua_pcall(L, 1, 1, 1) != 0) throw to_error(L, -1);  // [tb, runner, outputs]
  std::vector<RecipeOutput> outputs;
  if (lua_istable(L, -1)) {
    for (int i = 1;; ++i) {
      lua_rawgeti(L, -1, i);
      if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      lua_getfield(L, -1, "path");
      lua_getfield(L, -2, "format");
      const char* path = lua_tostring(L, -2);
      const char* format = lua_tostring(L, -1);
      outputs.push_back({path ? path : "", format ? format : ""});
      lua_pop(L, 3);
    }
  }
  return outputs;
}

int run_tests(const std::vector<std::string>& files, const std::vector<std::string>& lib_paths) {
  State s;
  lua_State* L = s.L;
  require_with_traceback(L, "imgrecipe.testing");  // [tb, testing]
  lua_getfield(L, -1, "run_files");                       // [tb, testing, run_files]
  push_string_list(L, files);
  // Each test file finds modules as a recipe in its directory would.
  lua_createtable(L, static_cast<int>(files.size()), 0);
  const LibraryEnv env = library_env();
  for (size_t i = 0; i < files.size(); ++i) {
    push_library_path(L, library_path(file_dir(files[i]), lib_paths, env));
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  if (lua_pcall(L, 2, 1, 1) != 0) throw to_error(L, -1);  // [tb, testing, failures]
  return static_cast<int>(lua_tointeger(L, -1));
}

std::string call_string(const std::string& module, const std::string& function,
                        const std::vector<std::string>& args) {
  State s;
  lua_State* L = s.L;
  require_with_traceback(L, module.c_str());  // [tb, module]
  lua_getfield(L, -1, function.c_str());      // [tb, module, fn]
  for (const auto& a : args) lua_pushlstring(L, a.data(), a.size());
  if (lua_pcall(L, static_cast<int>(args.size()), 1, 1) != 0) throw to_error(L, -1);
  size_t n = 0;
  const char* text = lua_tolstring(L, -1, &n);
  if (text == nullptr) throw Error(ErrorKind::Internal, fmt::format("{}.{} did not return a string", module, function));
  return std::string(text, n);
}

}  // namespace imgrecipe::lua
