#include "lua/boundary.hpp"

#include <string>

#include "lua/call_site.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

constexpr const char* kErrorMeta = "imgrecipe.error";

int error_tostring(lua_State* L) {
  lua_getfield(L, 1, "message");
  if (!lua_isstring(L, -1)) {
    lua_pushstring(L, "(error without message)");
  }
  return 1;
}

void set_string(lua_State* L, const char* key, const std::string& value) {
  if (value.empty()) return;
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, key);
}

}  // namespace

void push_error(lua_State* L, const Error& e) {
  lua_createtable(L, 0, 8);  // [err]
  set_string(L, "kind", to_string(e.kind()));
  // A recipe's misuse is shown at the recipe's line, naming the function.
  set_string(L, "message", with_call_site(L, e.what(), e.kind() == ErrorKind::Usage));
  set_string(L, "op", e.op);
  set_string(L, "target", e.target);
  if (e.sys_errno != 0) {
    lua_pushinteger(L, e.sys_errno);
    lua_setfield(L, -2, "errno");
  }
  if (e.kind() == ErrorKind::Command) {
    lua_pushinteger(L, e.exit_code);
    lua_setfield(L, -2, "exit_code");
    push_string_list(L, e.argv);
    lua_setfield(L, -2, "command");
    push_string_list(L, e.output_tail);
    lua_setfield(L, -2, "output");
  }
  if (luaL_newmetatable(L, kErrorMeta)) {  // [err, meta]
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);  // [err]
}

static ErrorKind kind_from(const std::string& s) {
  for (auto k : {ErrorKind::Usage, ErrorKind::Config, ErrorKind::System, ErrorKind::Command, ErrorKind::Interrupted,
                 ErrorKind::Unsupported, ErrorKind::Recipe, ErrorKind::Internal}) {
    if (s == to_string(k)) return k;
  }
  return ErrorKind::Recipe;
}

Error to_error(lua_State* L, int index) {
  index = index < 0 ? lua_gettop(L) + index + 1 : index;
  if (!lua_istable(L, index)) {
    const char* msg = lua_tostring(L, index);
    return Error(ErrorKind::Recipe, msg ? msg : "recipe raised a non-string error");
  }
  auto field = [&](const char* k) {
    lua_getfield(L, index, k);
    std::string v = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
    lua_pop(L, 1);
    return v;
  };
  Error e(kind_from(field("kind")), field("message").empty() ? "recipe error" : field("message"));
  e.op = field("op");
  e.target = field("target");
  lua_getfield(L, index, "exit_code");
  if (lua_isnumber(L, -1)) e.exit_code = static_cast<int>(lua_tointeger(L, -1));
  lua_pop(L, 1);
  lua_getfield(L, index, "output");
  if (lua_istable(L, -1)) {
    for (int i = 1;; ++i) {
      lua_rawgeti(L, -1, i);
      if (!lua_isstring(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      e.output_tail.emplace_back(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return e;
}

}  // namespace imgrecipe::lua
