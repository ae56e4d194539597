// imgrecipe.host.config: loads an ALIC-style YAML config into a Lua table.
#include "host/config/config.hpp"
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

// config.load(path) -> {path=, dir=, data=<table>, unsupported={{key=, line=, column=}}}
int l_load(lua_State* L) {
  auto cfg = config::load_file(check_string(L, 1));
  auto unsupported = config::unsupported_keys(cfg);
  lua_createtable(L, 0, 4);
  set_field(L, "path", cfg.path);
  set_field(L, "dir", cfg.dir);
  push_node(L, cfg.root);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  lua_setfield(L, -2, "data");
  lua_createtable(L, static_cast<int>(unsupported.size()), 0);
  for (size_t i = 0; i < unsupported.size(); ++i) {
    lua_createtable(L, 0, 3);
    set_field(L, "key", unsupported[i].key);
    set_field(L, "line", static_cast<long long>(unsupported[i].mark.line));
    set_field(L, "column", static_cast<long long>(unsupported[i].mark.column));
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  lua_setfield(L, -2, "unsupported");
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("load", l_load), {nullptr, nullptr}};

}  // namespace

int open_config(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
