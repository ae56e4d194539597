// imgrecipe.host.names: the rules of host/security/names.hpp, so the stdlib
// refuses what the config checks refuse. Each check returns nil when the
// value is fine, or the reason it is not.
#include "host/security/names.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

template <names::Problem (*Check)(std::string_view)>
int l_check(lua_State* L) {
  names::Problem why = Check(check_string(L, 1));
  if (why) {
    lua_pushlstring(L, why->data(), why->size());
  } else {
    lua_pushnil(L);
  }
  return 1;
}

// names.shown(value) -> the value cut and escaped for an error message
int l_shown(lua_State* L) {
  std::string s = names::shown(check_string(L, 1));
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("account_name", l_check<names::account_name>),
                         IMGRECIPE_FN("env_name", l_check<names::env_name>),
                         IMGRECIPE_FN("kernel_argument", l_check<names::kernel_argument>),
                         IMGRECIPE_FN("shown", l_shown),
                         {nullptr, nullptr}};

}  // namespace

int open_names(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
