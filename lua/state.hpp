// The LuaJIT state recipes and Lua tests run in: host modules in
// package.preload, the embedded stdlib found by its own searcher. The fuzz
// targets (tests/fuzz) create it too, to call stdlib functions directly.
#pragma once

#include <lua.hpp>

namespace imgrecipe::lua {

class State {
 public:
  State();  // throws Error(ErrorKind::Internal)
  ~State();
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  lua_State* get() const { return L_; }

 private:
  lua_State* L_;
};

// Pushes a traceback handler, then require(module): [tb, module]. Throws the
// module's load error as an Error.
void require_with_traceback(lua_State* L, const char* module);

}  // namespace imgrecipe::lua
