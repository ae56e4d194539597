// Shared by the fuzz targets: reporting a finding, and running stdlib Lua
// under libFuzzer with coverage of Lua lines and a bound on work per input.
#pragma once

#include <lua.hpp>

#include <cstdint>
#include <string>

namespace imgrecipe::fuzz {

// Prints `why` and aborts, which libFuzzer reports as a crash with the input.
[[noreturn]] void finding(const std::string& why);

// LuaJIT is not instrumented, so libFuzzer would be blind to which stdlib
// lines an input reaches. install_lua_hooks turns the JIT off (hooks do not
// run in compiled traces) and feeds each executed (previous line, line) pair
// of the project's Lua code (chunks named "@imgrecipe.*") into libFuzzer's
// extra counters. With `budget`, it also counts every VM instruction, for
// targets that run input-controlled Lua code (see begin_input).
void install_lua_hooks(lua_State* L, bool budget);

// Call around each input. With the budget hook installed, the input's Lua
// code may then run at most `instructions` VM instructions and grow the heap
// by at most `heap_kb`; past that every hook raises an error containing
// kBudgetMarker. end_input disarms it before trusted clean-up code runs.
inline constexpr const char* kBudgetMarker = "FUZZ-BUDGET-EXHAUSTED";
void begin_input(lua_State* L, uint64_t instructions = 0, int heap_kb = 0);
void end_input();

}  // namespace imgrecipe::fuzz
