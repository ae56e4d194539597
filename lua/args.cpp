#include "lua/args.hpp"

#include <cmath>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe::lua {

void bad_arg(const std::string& name, const std::string& why) {
  throw Error(ErrorKind::Usage, fmt::format("{}: {}", name, why));
}

const char* type_of(lua_State* L, int index) { return lua_typename(L, lua_type(L, index)); }

std::string arg_string(lua_State* L, int index, const std::string& name) {
  if (lua_type(L, index) != LUA_TSTRING) bad_arg(name, fmt::format("expected a string, got {}", type_of(L, index)));
  size_t n = 0;
  const char* s = lua_tolstring(L, index, &n);
  return {s, n};
}

std::uint64_t arg_count(lua_State* L, int index, const std::string& name) {
  if (lua_type(L, index) != LUA_TNUMBER) bad_arg(name, fmt::format("expected a number, got {}", type_of(L, index)));
  double v = lua_tonumber(L, index);
  if (!(v >= 0) || v != std::floor(v) || v > 9007199254740992.0) bad_arg(name, "expected a whole number >= 0");
  return static_cast<std::uint64_t>(v);
}

long long arg_whole(lua_State* L, int index, const std::string& name, long long lo, long long hi) {
  if (lua_type(L, index) != LUA_TNUMBER) bad_arg(name, fmt::format("expected a number, got {}", type_of(L, index)));
  double v = lua_tonumber(L, index);
  if (!(v == std::floor(v)) || v < static_cast<double>(lo) || v > static_cast<double>(hi))
    bad_arg(name, fmt::format("expected a whole number from {} to {}", lo, hi));
  return static_cast<long long>(v);
}

void arg_table(lua_State* L, int index, const std::string& name, bool optional) {
  if (optional && lua_isnoneornil(L, index)) return;
  if (!lua_istable(L, index)) bad_arg(name, fmt::format("expected a table, got {}", type_of(L, index)));
}

std::optional<std::string> str_field(lua_State* L, int t, const char* key, const std::string& prefix) {
  return field<std::string>(L, t, key, prefix, arg_string);
}

std::optional<std::uint64_t> count_field(lua_State* L, int t, const char* key, const std::string& prefix) {
  return field<std::uint64_t>(L, t, key, prefix, arg_count);
}

std::optional<bool> bool_field(lua_State* L, int t, const char* key, const std::string& prefix) {
  return field<bool>(L, t, key, prefix, [](lua_State* L, int i, const std::string& name) {
    if (!lua_isboolean(L, i)) bad_arg(name, fmt::format("expected a boolean, got {}", type_of(L, i)));
    return lua_toboolean(L, i) != 0;
  });
}

std::vector<std::string> string_list_field(lua_State* L, int t, const char* key, const std::string& prefix) {
  std::vector<std::string> out;
  lua_getfield(L, t, key);
  int list = lua_gettop(L);
  std::string name = prefix + "." + key;
  try {
    if (!lua_isnil(L, list)) {
      if (!lua_istable(L, list)) bad_arg(name, fmt::format("expected a list of strings, got {}", type_of(L, list)));
      for (int i = 1;; ++i) {
        lua_rawgeti(L, list, i);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          break;
        }
        out.push_back(arg_string(L, lua_gettop(L), fmt::format("{}[{}]", name, i)));
        lua_pop(L, 1);
      }
    }
  } catch (...) {
    lua_settop(L, list - 1);
    throw;
  }
  lua_pop(L, 1);
  return out;
}

}  // namespace imgrecipe::lua
