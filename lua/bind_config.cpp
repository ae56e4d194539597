// imgrecipe.host.config: loads an ALIC-style YAML config (with its baseConfigs
// chain) and package-list files into Lua tables.
#include "host/config/config.hpp"
#include "host/config/inject_files.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

void push_node(lua_State* L, const config::Node& n) {
  using K = config::Node::Kind;
  switch (n.kind) {
    case K::Null: lua_pushnil(L); break;
    case K::String: lua_pushlstring(L, n.str.data(), n.str.size()); break;
    case K::Int: lua_pushnumber(L, static_cast<lua_Number>(n.i)); break;
    case K::Bool: lua_pushboolean(L, n.b ? 1 : 0); break;
    case K::Sequence:
      lua_createtable(L, static_cast<int>(n.items.size()), 0);
      for (size_t i = 0; i < n.items.size(); ++i) {
        push_node(L, n.items[i]);
        lua_rawseti(L, -2, static_cast<int>(i + 1));
      }
      break;
    case K::Map:
      lua_createtable(L, 0, static_cast<int>(n.fields.size()));
      for (const auto& [k, v] : n.fields) {
        push_node(L, v);
        lua_setfield(L, -2, k.c_str());
      }
      break;
  }
}

void push_tree(lua_State* L, const config::Node& root) {
  push_node(L, root);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
}

// Sets t[path] = line for every key and item below `n` ("os.users[0].name" = 12),
// so a translation can name the line of each config item.
void set_lines(lua_State* L, const config::Node& n, const std::string& path) {
  using K = config::Node::Kind;
  if (n.kind == K::Map) {
    for (const auto& [k, v] : n.fields) {
      std::string p = path.empty() ? k : path + "." + k;
      set_field(L, p.c_str(), static_cast<long long>(v.key_mark.line != 0 ? v.key_mark.line : v.mark.line));
      set_lines(L, v, p);
    }
  } else if (n.kind == K::Sequence) {
    for (size_t i = 0; i < n.items.size(); ++i) {
      std::string p = path + "[" + std::to_string(i) + "]";
      set_field(L, p.c_str(), static_cast<long long>(n.items[i].mark.line));
      set_lines(L, n.items[i], p);
    }
  }
}

// config.load(path) -> {path=, dir=, data=<merged view>, chain={{path=, dir=, data=, lines=}, ...},
//   unsupported={{key=, line=, column=, path=}}, warnings={"..."}}
int l_load(lua_State* L) {
  auto chain = config::load_chain(check_string(L, 1));
  auto unsupported = config::unsupported_keys(chain);
  lua_createtable(L, 0, 6);
  set_field(L, "path", chain.top().path);
  set_field(L, "dir", chain.top().dir);
  push_tree(L, chain.merged);
  lua_setfield(L, -2, "data");
  lua_createtable(L, static_cast<int>(chain.configs.size()), 0);
  for (size_t i = 0; i < chain.configs.size(); ++i) {
    lua_createtable(L, 0, 3);
    set_field(L, "path", chain.configs[i].path);
    set_field(L, "dir", chain.configs[i].dir);
    push_tree(L, chain.configs[i].root);
    lua_setfield(L, -2, "data");
    lua_newtable(L);
    set_lines(L, chain.configs[i].root, "");
    lua_setfield(L, -2, "lines");
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "chain");
  lua_createtable(L, static_cast<int>(unsupported.size()), 0);
  for (size_t i = 0; i < unsupported.size(); ++i) {
    lua_createtable(L, 0, 4);
    set_field(L, "key", unsupported[i].key);
    set_field(L, "line", static_cast<long long>(unsupported[i].mark.line));
    set_field(L, "column", static_cast<long long>(unsupported[i].mark.column));
    set_field(L, "path", unsupported[i].path);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "unsupported");
  push_string_list(L, chain.warnings);
  lua_setfield(L, -2, "warnings");
  return 1;
}

// config.load_package_list(path) -> {"name", ...}
int l_load_package_list(lua_State* L) {
  push_string_list(L, config::load_package_list(check_string(L, 1)));
  return 1;
}

// config.load_inject_files(path) -> {injectFiles={...}, previewFeatures={...}}
int l_load_inject_files(lua_State* L) {
  push_tree(L, config::load_inject_files(check_string(L, 1)));
  return 1;
}

const luaL_Reg kFns[] = {
    IMGRECIPE_FN("load", l_load),
    IMGRECIPE_FN("load_package_list", l_load_package_list),
    IMGRECIPE_FN("load_inject_files", l_load_inject_files),
    {nullptr, nullptr},
};

}  // namespace

int open_config(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
