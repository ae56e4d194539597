// The one place where C++ exceptions become Lua errors. Binding functions are
// wrapped with guarded<>; the Lua error is raised only after the try scope
// has ended, so no C++ destructor is ever skipped by a longjmp.
#pragma once

#include <lua.hpp>

#include <exception>

#include "host/system/error.hpp"

namespace imgrecipe::lua {

// Pushes {kind=, message=, op=, target=, errno=, command=, exit_code=,
// output={...}} with a __tostring metamethod.
void push_error(lua_State* L, const Error& e);
// Converts a Lua error value (structured table or anything else) back into a
// C++ Error for the CLI.
Error to_error(lua_State* L, int index);

template <lua_CFunction F>
int guarded(lua_State* L) {
  {
    // Only C++ exceptions are caught: LuaJIT's own error unwinding must pass.
    try {
      return F(L);
    } catch (const Error& e) {
      push_error(L, e);
    } catch (const std::exception& e) {
      push_error(L, Error(ErrorKind::Internal, e.what()));
    }
  }
  return lua_error(L);
}

#define IMGRECIPE_FN(name, fn) \
  { name, ::imgrecipe::lua::guarded<fn> }

}  // namespace imgrecipe::lua
