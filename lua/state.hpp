// The LuaJIT state recipes and Lua tests run in (lua/state.cpp): host modules
// in package.preload, the embedded stdlib found by its own searcher. The fuzz
// targets (tests/fuzz) create one to call stdlib functions directly.
#pragma once

#include <lua.hpp>

#include <memory>

namespace imgrecipe::lua {

class LuaState {
 public:
  LuaState();  // throws Error(ErrorKind::Internal)
  ~LuaState();
  LuaState(const LuaState&) = delete;
  LuaState& operator=(const LuaState&) = delete;
  lua_State* get() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgrecipe::lua
