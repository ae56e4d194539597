// Argument checks for the binding files: each failure is a `usage` error
// naming the argument or field ("layout.partitions[2].size: expected a
// number, got string"), so a recipe author sees which value is wrong.
#pragma once

#include <lua.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace imgrecipe::lua {

[[noreturn]] void bad_arg(const std::string& name, const std::string& why);
const char* type_of(lua_State* L, int index);

std::string arg_string(lua_State* L, int index, const std::string& name);
// A non-negative whole number (sizes in bytes are exact in a double up to 2^53).
std::uint64_t arg_count(lua_State* L, int index, const std::string& name);
// A whole number within [lo, hi].
long long arg_whole(lua_State* L, int index, const std::string& name, long long lo, long long hi);
void arg_table(lua_State* L, int index, const std::string& name, bool optional);

// Field `key` of the table at `t`, read by `read(L, index, "prefix.key")`;
// nullopt when absent.
template <typename T, typename F>
std::optional<T> field(lua_State* L, int t, const char* key, const std::string& prefix, F read) {
  lua_getfield(L, t, key);
  std::optional<T> out;
  if (!lua_isnil(L, -1)) {
    try {
      out = read(L, lua_gettop(L), prefix + "." + key);
    } catch (...) {
      lua_pop(L, 1);
      throw;
    }
  }
  lua_pop(L, 1);
  return out;
}

std::optional<std::string> str_field(lua_State* L, int t, const char* key, const std::string& prefix);
std::optional<std::uint64_t> count_field(lua_State* L, int t, const char* key, const std::string& prefix);
std::optional<bool> bool_field(lua_State* L, int t, const char* key, const std::string& prefix);
// A list of strings (empty when absent): "prefix.key[i]: expected a string".
std::vector<std::string> string_list_field(lua_State* L, int t, const char* key, const std::string& prefix);

// Calls `each(index_of_element, "prefix.key[i]")` for every element of the
// list field `key`; each element must be a table.
template <typename F>
void list_field(lua_State* L, int t, const char* key, const std::string& prefix, F each) {
  lua_getfield(L, t, key);
  int list = lua_gettop(L);
  std::string name = prefix + "." + key;
  if (!lua_isnil(L, list)) {
    if (!lua_istable(L, list)) bad_arg(name, std::string("expected a list, got ") + type_of(L, list));
    for (int i = 1;; ++i) {
      lua_rawgeti(L, list, i);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      std::string item = name + "[" + std::to_string(i) + "]";
      if (!lua_istable(L, -1)) bad_arg(item, std::string("expected a table, got ") + type_of(L, -1));
      each(lua_gettop(L), item);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

}  // namespace imgrecipe::lua
