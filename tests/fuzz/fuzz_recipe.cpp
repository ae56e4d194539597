// libFuzzer target: the Lua recipe entry (stdlib/imgrecipe/runner.lua): a
// recipe's source text is compiled as the runner compiles it, its top-level
// chunk runs in a sandbox (no I/O, no os, no pcall, bounded instructions and
// heap), and the result goes through the runner's contract check and
// parameter resolution. The recipe's run() is never called. Lines
// `--param NAME=VALUE` in the text are the parameters given on the command
// line (a name given twice arrives as a list, as from the CLI).
//
// Expected outcomes: success, a Lua error raised by the recipe's own code, or
// a structured error ({kind=, message=}) from the runner. A plain Lua error
// raised inside the runner or the stdlib ("attempt to concatenate ...")
// means the contract check let a malformed recipe through: a finding.
#include <cstdint>
#include <cstring>
#include <string>

#include "host/system/log.hpp"
#include "lua/runtime.hpp"
#include "lua/state.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace imgrecipe;

namespace {

constexpr const char* kDriver = R"lua(
local runner = require "imgrecipe.runner"
local api_version = ...

local string_meta = getmetatable("")

-- Fresh copies for every input, so that no input can change what the next
-- one (or the runner) sees. The string library lacks the functions whose
-- output size one call can multiply (rep, gsub) or that expose bytecode (dump).
local function copy(lib, except)
  local t = {}
  for k, v in pairs(lib) do
    if not except[k] then t[k] = v end
  end
  return t
end

local function stub_module()
  return setmetatable({}, { __index = function() return function() end end })
end

local function sandbox(safe_string)
  local env = {
    -- Errors the recipe raises itself arrive as tables, so a plain string
    -- error is always a runtime error with its position (see expected_error).
    error = function(m) error({ sandbox_error = m }) end,
    assert = function(v, ...) if not v then error({ sandbox_error = (...) }) end return v, ... end,
    ipairs = ipairs, next = next, pairs = pairs, rawequal = rawequal,
    rawget = rawget, rawset = rawset, select = select, setmetatable = setmetatable, tonumber = tonumber,
    tostring = tostring, type = type, unpack = unpack, math = copy(math, {}), string = safe_string,
    table = { concat = table.concat, insert = table.insert, remove = table.remove, sort = table.sort },
    getmetatable = function(v) if type(v) ~= "string" then return getmetatable(v) end end,
    require = function() return stub_module() end,
  }
  env._G = env
  return env
end

local function given_params(text)
  local given = {}
  for k, v in text:gmatch("%-%-param ([%w_%-]+)=([^\n]*)") do
    local old = given[k]
    if old == nil then
      given[k] = v
    elseif type(old) == "table" then
      old[#old + 1] = v
    else
      given[k] = { old, v }
    end
  end
  return given
end

local M = {}

function M.run(text)
  local given = given_params(text)
  local chunk = runner.compile(text, "fuzz.lua")
  local safe_string = copy(string, { rep = true, gsub = true, dump = true })
  setfenv(chunk, sandbox(safe_string))
  string_meta.__index = safe_string
  local recipe = chunk()
  runner.check_recipe(recipe, "fuzz.lua", api_version)
  local params = runner.resolve_params(recipe, given, "fuzz.lua")
  if type(params) ~= "table" then error("PROPERTY: resolve_params returned " .. type(params), 0) end
end

function M.restore()
  string_meta.__index = string
end

return M
)lua";

struct Target {
  lua::LuaState state;
  int run = LUA_NOREF;
  int restore = LUA_NOREF;
  Target() {
    lua_State* L = state.get();
    if (luaL_loadbuffer(L, kDriver, std::strlen(kDriver), "=fuzz_recipe") != 0) {
      fuzz::finding(std::string("driver: ") + lua_tostring(L, -1));
    }
    lua_pushinteger(L, lua::kApiVersion);
    if (lua_pcall(L, 1, 1, 0) != 0) fuzz::finding(std::string("driver: ") + lua_tostring(L, -1));
    lua_getfield(L, -1, "restore");
    restore = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "run");
    run = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
    fuzz::install_lua_hooks(L, true);
  }
};

Target* target = nullptr;

// Where a plain (string) error was raised: the chunk name of the innermost
// Lua function on the stack, so an error raised by a C function (table.sort,
// string.format) is charged to the Lua code that called it.
std::string error_origin;

int message_handler(lua_State* L) {
  error_origin.clear();
  if (!lua_isstring(L, 1)) return 1;
  lua_Debug ar;
  for (int level = 0; lua_getstack(L, level, &ar) != 0; ++level) {
    lua_getinfo(L, "S", &ar);
    if (std::strcmp(ar.what, "C") != 0) {
      error_origin = ar.source;
      break;
    }
  }
  return 1;
}

bool expected_error(lua_State* L) {
  // Tables: the runner's structured errors, and anything the recipe raises
  // itself (the sandbox's error() wraps its argument in one).
  if (!lua_isstring(L, -1)) return true;
  std::string msg = lua_tostring(L, -1);
  if (msg.rfind("PROPERTY:", 0) == 0) return false;
  if (msg.find(fuzz::kBudgetMarker) != std::string::npos) return true;
  // LuaJIT's own limits, wherever they hit.
  for (const char* limit : {"stack overflow", "not enough memory", "loop in gettable", "loop in settable"}) {
    if (msg.find(limit) != std::string::npos) return true;
  }
  // A runtime error in the recipe's code is the recipe's; one in the
  // runner's (or stdlib code it calls) means a check let bad input through.
  return error_origin.rfind("@imgrecipe.", 0) != 0;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_level(log::Level::Off);
  target = new Target();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lua_State* L = target->state.get();
  lua_pushcfunction(L, message_handler);
  lua_rawgeti(L, LUA_REGISTRYINDEX, target->run);
  lua_pushlstring(L, reinterpret_cast<const char*>(data), size);
  fuzz::begin_input(L, 200'000, 16 * 1024);
  int rc = lua_pcall(L, 1, 0, -3);
  fuzz::end_input();
  std::string why;
  if (rc != 0 && !expected_error(L)) why = std::string(lua_tostring(L, -1)) + " (raised in " + error_origin + ")";
  lua_pop(L, rc != 0 ? 2 : 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, target->restore);
  if (lua_pcall(L, 0, 0, 0) != 0) fuzz::finding("restore failed");
  if (!why.empty()) fuzz::finding("runner raised a plain Lua error: " + why);
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
