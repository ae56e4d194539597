// Small helpers shared by the binding files: argument reading, table
// building and owning userdata handles.
#pragma once

#include <lua.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace imgrecipe::lua {

std::string check_string(lua_State* L, int index);
std::optional<std::string> opt_string_field(lua_State* L, int table, const char* key);
std::optional<bool> opt_bool_field(lua_State* L, int table, const char* key);
std::optional<long long> opt_int_field(lua_State* L, int table, const char* key);
// A list of strings at `index` (a table), or a single string.
std::vector<std::string> check_string_list(lua_State* L, int index, const char* what);
std::vector<std::string> opt_string_list_field(lua_State* L, int table, const char* key);
// Mode given as a number or an octal string ("0644").
std::optional<unsigned> opt_mode_field(lua_State* L, int table, const char* key);
void set_field(lua_State* L, const char* key, const std::string& value);
void set_field(lua_State* L, const char* key, long long value);
void set_field(lua_State* L, const char* key, bool value);
void push_string_list(lua_State* L, const std::vector<std::string>& items);

// Pushes a new module table holding `fns`.
void push_module(lua_State* L, const luaL_Reg* fns);

// Registers a module table built from `fns` under package.preload[name].
void preload(lua_State* L, const char* name, lua_CFunction opener);

// Owning userdata: holds a T* deleted by close() or by the garbage collector.
template <typename T>
struct Handle {
  T* ptr;
};

template <typename T>
void push_handle(lua_State* L, std::unique_ptr<T> obj, const char* meta) {
  auto* h = static_cast<Handle<T>*>(lua_newuserdata(L, sizeof(Handle<T>)));  // [ud]
  h->ptr = obj.release();
  luaL_getmetatable(L, meta);  // [ud, meta]
  lua_setmetatable(L, -2);     // [ud]
}

template <typename T>
T* check_handle(lua_State* L, int index, const char* meta) {
  auto* h = static_cast<Handle<T>*>(luaL_checkudata(L, index, meta));
  luaL_argcheck(L, h->ptr != nullptr, index, (std::string(meta) + " is closed").c_str());
  return h->ptr;
}

template <typename T>
int close_handle(lua_State* L, const char* meta) {
  auto* h = static_cast<Handle<T>*>(luaL_checkudata(L, 1, meta));
  T* p = h->ptr;
  h->ptr = nullptr;
  delete p;  // destructor releases without committing anything
  return 0;
}

// Creates metatable `meta` with methods, __index = itself, protected.
void define_class(lua_State* L, const char* meta, const luaL_Reg* methods);

}  // namespace imgrecipe::lua
