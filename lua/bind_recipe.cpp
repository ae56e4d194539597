// imgrecipe.host.recipe: what the stdlib needs to treat recipes as a
// language: the API version, the library path of this run, the recipe's
// call site for error messages and "did you mean" suggestions.
#include <string_view>
#include <vector>

#include "host/config/suggest.hpp"
#include "lua/boundary.hpp"
#include "lua/call_site.hpp"
#include "lua/modules.hpp"
#include "lua/runtime.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

// call_site() -> where, function (nil when no recipe frame is on the stack)
int l_call_site(lua_State* L) {
  auto site = recipe_call_site(L);
  if (!site) return 0;
  lua_pushlstring(L, site->where.data(), site->where.size());
  if (site->function.empty()) return 1;
  lua_pushlstring(L, site->function.data(), site->function.size());
  return 2;
}

// locate(message, usage, function?) -> message prefixed with the call site
int l_locate(lua_State* L) {
  std::string msg = check_string(L, 1);
  bool usage = lua_toboolean(L, 2) != 0;
  std::string fn = lua_isstring(L, 3) ? lua_tostring(L, 3) : "";
  std::string out = with_call_site(L, msg, usage, fn);
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

// closest(word, {candidates}) -> the likely intended candidate, or nil
int l_closest(lua_State* L) {
  std::string word = check_string(L, 1);
  std::vector<std::string> owned = check_string_list(L, 2, "candidates");
  std::vector<std::string_view> views(owned.begin(), owned.end());
  auto best = config::closest(word, views);
  if (!best) return 0;
  lua_pushlstring(L, best->data(), best->size());
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("call_site", l_call_site), IMGRECIPE_FN("locate", l_locate),
                         IMGRECIPE_FN("closest", l_closest), {nullptr, nullptr}};

}  // namespace

int open_recipe(lua_State* L) {
  push_module(L, kFns);
  lua_pushinteger(L, kApiVersion);
  lua_setfield(L, -2, "api_version");
  return 1;
}

}  // namespace imgrecipe::lua
