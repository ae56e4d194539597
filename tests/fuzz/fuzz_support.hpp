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
// lines an input reaches. install_lua_coverage turns the JIT off (hooks do not
// run in compiled traces) and feeds each executed (previous line, line) pair
// of the project's Lua code (chunks named "@imgrecipe.*") into libFuzzer's
// extra counters.
void install_lua_coverage(lua_State* L);

// While armed, input-controlled Lua code may run at most `instructions` VM
// instructions and grow the heap by at most `heap_kb`; past that every hook
// raises an error containing kBudgetMarker. Disarm before running trusted
// clean-up code.
inline constexpr const char* kBudgetMarker = "FUZZ-BUDGET-EXHAUSTED";
void arm_budget(lua_State* L, uint64_t instructions, int heap_kb);
void disarm_budget();

}  // namespace imgrecipe::fuzz
