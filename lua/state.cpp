// The LuaJIT state: host modules in package.preload, the embedded stdlib
// found by its own searcher (or files under IMGRECIPE_LUA_PATH for
// development), and protected entry with a traceback.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "host/system/error.hpp"
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
  lua_pushfstring(L, "\n\tno embedded module '%s'", name.c_str());
  return 1;
}

// Replaces package.loaders' Lua file searcher (recipes require modules from
// their own directory): the same search of package.path, but source text
// only, as LuaJIT does not verify bytecode and a corrupted file crashes it.
int text_file_searcher(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  lua_getglobal(L, "package");           // [name, package]
  lua_getfield(L, -1, "searchpath");     // [name, package, searchpath]
  lua_pushvalue(L, 1);
  lua_getfield(L, -3, "path");           // [name, package, searchpath, name, path]
  lua_call(L, 2, 2);                     // [name, package, file|nil, err]
  if (lua_isnil(L, -2)) return 1;        // the "no file ..." lines
  const char* file = lua_tostring(L, -2);
  if (luaL_loadfilex(L, file, "t") != 0) {
    return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file, lua_tostring(L, -1));
  }
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

void install_searcher(lua_State* L) {
  lua_getglobal(L, "package");      // [package]
  lua_getfield(L, -1, "loaders");   // [package, loaders]
  // Insert at position 2, after preload.
  int n = static_cast<int>(lua_objlen(L, -1));
  for (int i = n; i >= 2; --i) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, embedded_searcher);
  lua_rawseti(L, -2, 2);
  lua_pushcfunction(L, text_file_searcher);  // was the Lua file searcher, now third
  lua_rawseti(L, -2, 3);
  lua_pop(L, 2);
}

// Pushes a traceback handler, then require(module): [tb, module].
void require_with_traceback(lua_State* L, const char* module) {
  lua_pushcfunction(L, traceback);
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  if (lua_pcall(L, 1, 1, 1) != 0) throw to_error(L, -1);
}

struct State {
  lua_State* L;
  State() : L(luaL_newstate()) {
    if (L == nullptr) throw Error(ErrorKind::Internal, "cannot create the Lua state");
    lua_atpanic(L, at_panic);
    luaL_openlibs(L);
    install_searcher(L);
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

void run_recipe(const RecipeRun& run) {
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
  if (lua_pcall(L, 1, 0, 1) != 0) throw to_error(L, -1);
}

int run_tests(const std::vector<std::string>& files) {
  State s;
  lua_State* L = s.L;
  require_with_traceback(L, "imgrecipe.testing");  // [tb, testing]
  lua_getfield(L, -1, "run_files");                       // [tb, testing, run_files]
  push_string_list(L, files);
  if (lua_pcall(L, 1, 1, 1) != 0) throw to_error(L, -1);  // [tb, testing, failures]
  return static_cast<int>(lua_tointeger(L, -1));
}

}  // namespace imgrecipe::lua
