#include "tests/fuzz/fuzz_support.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace imgrecipe::fuzz {
namespace {

// libFuzzer treats every byte of this section as a coverage counter.
__attribute__((used, section("__libfuzzer_extra_counters"))) uint8_t lua_counters[1 << 16];

uint32_t previous_location = 0;
bool armed = false;
uint64_t budget_left = 0;
int heap_limit_kb = 0;

uint32_t hash_source(const char* s) {
  uint32_t h = 2166136261u;  // FNV-1a; chunk names are short
  for (; *s != '\0'; ++s) h = (h ^ static_cast<uint8_t>(*s)) * 16777619u;
  return h;
}

void hook(lua_State* L, lua_Debug* ar) {
  if (ar->event == LUA_HOOKLINE) {
    lua_getinfo(L, "S", ar);
    // Only the project's own Lua counts: lines of input-defined code (a
    // fuzzed recipe) would make every input look new.
    if (std::strncmp(ar->source, "@imgrecipe.", 11) != 0) return;
    uint32_t location = (hash_source(ar->source) ^ static_cast<uint32_t>(ar->currentline) * 2654435761u) & 0xffff;
    uint8_t& c = lua_counters[(location ^ previous_location) & 0xffff];
    if (c != 0xff) ++c;
    previous_location = location >> 1;
    return;
  }
  if (!armed) return;
  if (budget_left == 0 || lua_gc(L, LUA_GCCOUNT, 0) > heap_limit_kb) {
    budget_left = 0;
    luaL_error(L, "%s", kBudgetMarker);
  }
  --budget_left;
}

}  // namespace

void finding(const std::string& why) {
  std::fprintf(stderr, "\n==fuzz finding== %s\n", why.c_str());
  std::fflush(stderr);
  std::abort();
}

void install_lua_hooks(lua_State* L, bool budget) {
  luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  // A count event after every instruction: checked that often, one input
  // cannot allocate far past heap_kb between two checks.
  lua_sethook(L, hook, LUA_MASKLINE | (budget ? LUA_MASKCOUNT : 0), budget ? 1 : 0);
}

void begin_input(lua_State* L, uint64_t instructions, int heap_kb) {
  previous_location = 0;
  budget_left = instructions;
  heap_limit_kb = lua_gc(L, LUA_GCCOUNT, 0) + heap_kb;
  armed = true;
}

void end_input() { armed = false; }

}  // namespace imgrecipe::fuzz
