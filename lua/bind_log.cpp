// imgrecipe.host.log: the host log channel, with the current step name.
#include "host/system/log.hpp"
#include "lua/boundary.hpp"
#include "lua/modules.hpp"
#include "lua/util.hpp"

namespace imgrecipe::lua {
namespace {

template <log::Level L>
int l_write(lua_State* S) {
  log::write(L, check_string(S, 1));
  return 0;
}

int l_set_step(lua_State* S) {
  log::set_step(lua_isnoneornil(S, 1) ? "" : check_string(S, 1));
  return 0;
}

int l_step(lua_State* S) {
  lua_pushstring(S, log::step().c_str());
  return 1;
}

int l_level(lua_State* S) {
  static const char* names[] = {"trace", "debug", "info", "warn", "error", "off"};
  lua_pushstring(S, names[static_cast<int>(log::level())]);
  return 1;
}

const luaL_Reg kFns[] = {IMGRECIPE_FN("trace", l_write<log::Level::Trace>),
                         IMGRECIPE_FN("debug", l_write<log::Level::Debug>),
                         IMGRECIPE_FN("info", l_write<log::Level::Info>),
                         IMGRECIPE_FN("warn", l_write<log::Level::Warn>),
                         IMGRECIPE_FN("error", l_write<log::Level::Error>),
                         IMGRECIPE_FN("set_step", l_set_step),
                         IMGRECIPE_FN("step", l_step),
                         IMGRECIPE_FN("level", l_level),
                         {nullptr, nullptr}};

}  // namespace

int open_log(lua_State* L) {
  push_module(L, kFns);
  return 1;
}

}  // namespace imgrecipe::lua
