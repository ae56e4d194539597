#include "lua/util.hpp"

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe::lua {

std::string check_string(lua_State* L, int index) {
  size_t n = 0;
  const char* s = luaL_checklstring(L, index, &n);
  return std::string(s, n);
}

std::optional<std::string> opt_string_field(lua_State* L, int table, const char* key) {
  lua_getfield(L, table, key);
  std::optional<std::string> out;
  if (lua_type(L, -1) == LUA_TSTRING) {
    size_t n = 0;
    const char* s = lua_tolstring(L, -1, &n);
    out = std::string(s, n);
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    throw Error(ErrorKind::Usage, fmt::format("option '{}': expected a string", key));
  }
  lua_pop(L, 1);
  return out;
}

std::optional<bool> opt_bool_field(lua_State* L, int table, const char* key) {
  lua_getfield(L, table, key);
  std::optional<bool> out;
  if (lua_isboolean(L, -1)) out = lua_toboolean(L, -1) != 0;
  else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    throw Error(ErrorKind::Usage, fmt::format("option '{}': expected a boolean", key));
  }
  lua_pop(L, 1);
  return out;
}

std::optional<long long> opt_int_field(lua_State* L, int table, const char* key) {
  lua_getfield(L, table, key);
  std::optional<long long> out;
  if (lua_type(L, -1) == LUA_TNUMBER) out = static_cast<long long>(lua_tonumber(L, -1));
  else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    throw Error(ErrorKind::Usage, fmt::format("option '{}': expected a number", key));
  }
  lua_pop(L, 1);
  return out;
}

std::vector<std::string> check_string_list(lua_State* L, int index, const char* what) {
  std::vector<std::string> out;
  if (lua_type(L, index) == LUA_TSTRING) {
    out.emplace_back(lua_tostring(L, index));
    return out;
  }
  if (!lua_istable(L, index)) throw Error(ErrorKind::Usage, fmt::format("{}: expected a list of strings", what));
  for (int i = 1;; ++i) {
    lua_rawgeti(L, index, i);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      break;
    }
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
      lua_pop(L, 1);
      throw Error(ErrorKind::Usage, fmt::format("{}[{}]: expected a string", what, i));
    }
    out.emplace_back(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return out;
}

std::vector<std::string> opt_string_list_field(lua_State* L, int table, const char* key) {
  lua_getfield(L, table, key);
  std::vector<std::string> out;
  if (!lua_isnil(L, -1)) out = check_string_list(L, lua_gettop(L), key);
  lua_pop(L, 1);
  return out;
}

std::optional<unsigned> opt_mode_field(lua_State* L, int table, const char* key) {
  lua_getfield(L, table, key);
  std::optional<unsigned> out;
  if (lua_type(L, -1) == LUA_TNUMBER) {
    out = static_cast<unsigned>(lua_tointeger(L, -1));
  } else if (lua_type(L, -1) == LUA_TSTRING) {
    std::string s = lua_tostring(L, -1);
    size_t used = 0;
    unsigned long v = 0;
    try {
      v = std::stoul(s, &used, 8);
    } catch (...) {
      used = 0;
    }
    if (used != s.size() || s.empty() || v > 07777) {
      lua_pop(L, 1);
      throw Error(ErrorKind::Usage, fmt::format("option '{}': invalid mode '{}' (expected octal such as \"0644\")", key, s));
    }
    out = static_cast<unsigned>(v);
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    throw Error(ErrorKind::Usage, fmt::format("option '{}': expected a mode", key));
  }
  lua_pop(L, 1);
  if (out && *out > 07777) throw Error(ErrorKind::Usage, fmt::format("option '{}': mode out of range", key));
  return out;
}

void set_field(lua_State* L, const char* key, const std::string& value) {
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, key);
}
void set_field(lua_State* L, const char* key, long long value) {
  lua_pushnumber(L, static_cast<lua_Number>(value));
  lua_setfield(L, -2, key);
}
void set_field(lua_State* L, const char* key, bool value) {
  lua_pushboolean(L, value ? 1 : 0);
  lua_setfield(L, -2, key);
}

void push_string_list(lua_State* L, const std::vector<std::string>& items) {
  lua_createtable(L, static_cast<int>(items.size()), 0);
  for (size_t i = 0; i < items.size(); ++i) {
    lua_pushlstring(L, items[i].data(), items[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
}

void push_module(lua_State* L, const luaL_Reg* fns) {
  lua_newtable(L);
  luaL_register(L, nullptr, fns);
}

void preload(lua_State* L, const char* name, lua_CFunction opener) {
  lua_getglobal(L, "package");        // [package]
  lua_getfield(L, -1, "preload");     // [package, preload]
  lua_pushcfunction(L, opener);       // [package, preload, fn]
  lua_setfield(L, -2, name);          // [package, preload]
  lua_pop(L, 2);                      // []
}

void define_class(lua_State* L, const char* meta, const luaL_Reg* methods) {
  if (luaL_newmetatable(L, meta)) {  // [meta]
    luaL_register(L, nullptr, methods);
    lua_pushvalue(L, -1);              // [meta, meta]
    lua_setfield(L, -2, "__index");    // [meta]
    lua_pushstring(L, meta);
    lua_setfield(L, -2, "__metatable");  // protect it
  }
  lua_pop(L, 1);  // []
}

}  // namespace imgrecipe::lua
