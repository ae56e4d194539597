// Where a recipe called into imgrecipe: errors raised inside a primitive or
// the stdlib carry the recipe's file:line, not the stdlib's.
#pragma once

#include <lua.hpp>

#include <optional>
#include <string>

namespace imgrecipe::lua {

struct CallSite {
  std::string where;     // "/path/recipe.lua:12": the first frame outside the stdlib
  std::string function;  // the stdlib function it called ("img:write_file"), or ""
};

// Walks the running stack; nullopt when no recipe, library or test frame is
// on it (the built-in YAML recipe's errors stay as they are).
std::optional<CallSite> recipe_call_site(lua_State* L);

// "where: message", and for usage errors "where: function: message" (unless
// the message already names `function`). `function` defaults to the call
// site's. Unchanged when there is no call site or it is already prefixed.
std::string with_call_site(lua_State* L, const std::string& message, bool usage, const std::string& function = "");

}  // namespace imgrecipe::lua
