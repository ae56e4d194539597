// libFuzzer target: the GRUB configuration editor (stdlib/imgrecipe/grub.lua)
// in the project's LuaJIT state. The input is a grub.cfg or /etc/default/grub
// text; if it holds a NUL byte, the words before it are the kernel arguments
// to add. These are pure text functions: they must not raise on any text, and
// the properties checked in kDriver must hold (each violation is a finding).
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "lua/state.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace imgrecipe;

namespace {

constexpr const char* kDriver = R"lua(
local grub = require "imgrecipe.grub"
local util = require "imgrecipe.util"

local function fail(what, text)
  error(string.format("PROPERTY: %s\n--- input ---\n%s", what, text), 0)
end

local function newlines(s) local _, n = s:gsub("\n", "") return n end

local function words(s)
  local out = {}
  for w in s:gmatch("%S+") do out[#out + 1] = w end
  return out
end

return function(text, argtext)
  local args = words(argtext or "console=ttyS0 quiet selinux=0")
  -- Where grub.lua checks arguments (GRUB/shell metacharacters), refused ones
  -- must be a usage error; the text is then edited with the default ones.
  if grub.check_kernel_args then
    local ok, err = pcall(grub.check_kernel_args, args)
    if not ok then
      if type(err) ~= "table" or err.kind ~= "usage" then fail("check_kernel_args: " .. tostring(err), argtext) end
      args = words("console=ttyS0 quiet selinux=0")
    end
  end

  if util.map_lines(text, function(l) return l end) ~= text then fail("map_lines(identity) changed the text", text) end

  -- A kernel line GRUB would continue into the next (an open quote, a final
  -- backslash) is refused with a usage error; any other error is a finding.
  local function edit(fn, ...)
    local ok, out, count = pcall(fn, ...)
    if ok then return out, count end
    if type(out) ~= "table" or out.kind ~= "usage" then fail(tostring(out), text) end
    return nil
  end

  local appended, n = edit(grub.append_kernel_args, text, args)
  if appended then
    local again, n2 = grub.append_kernel_args(appended, args)
    if again ~= appended or n2 ~= n then fail("append_kernel_args is not idempotent", text) end
    if newlines(appended) ~= newlines(text) then fail("append_kernel_args changed the number of lines", text) end
  end

  -- As selinux.lua uses it: every added argument's name is among those removed.
  local names = { "selinux", "security", "enforcing" }
  -- Names as GRUB reads the argument back ("x" is the kernel's x).
  for _, a in ipairs(args) do names[#names + 1] = (grub.split_args(grub.quote_arg(a))[1] or a):match("^([^=]*)") end
  local replaced, m = edit(grub.replace_kernel_args, text, names, args)
  if replaced then
    local again2, m2 = grub.replace_kernel_args(replaced, names, args)
    if again2 ~= replaced or m2 ~= m then fail("replace_kernel_args is not idempotent", text) end
    if newlines(replaced) ~= newlines(text) then fail("replace_kernel_args changed the number of lines", text) end
  end

  local first = grub.first_kernel_args(text)
  if first then grub.arg_value(first, "selinux") end
  grub.is_generated(text)

  for _, var in ipairs({ "GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT" }) do
    local d = grub.append_default_var(text, var, args)
    if grub.append_default_var(d, var, args) ~= d then fail("append_default_var is not idempotent", text) end
    grub.default_var_words(d, var)
    local r = grub.replace_default_var_args(text, var, { "selinux", "quiet" }, args)
    grub.default_var_words(r, var)
  end
end
)lua";

struct Target {
  lua::LuaState state;
  int driver = LUA_NOREF;
  Target() {
    lua_State* L = state.get();
    if (luaL_loadbuffer(L, kDriver, std::strlen(kDriver), "=fuzz_grub") != 0 || lua_pcall(L, 0, 1, 0) != 0) {
      fuzz::finding(std::string("driver: ") + lua_tostring(L, -1));
    }
    driver = luaL_ref(L, LUA_REGISTRYINDEX);
    fuzz::install_lua_hooks(L, false);
  }
};

Target* target = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_level(log::Level::Off);
  target = new Target();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lua_State* L = target->state.get();
  const char* text = reinterpret_cast<const char*>(data);
  const void* nul = std::memchr(data, 0, size);
  lua_rawgeti(L, LUA_REGISTRYINDEX, target->driver);
  if (nul != nullptr) {
    size_t args_len = static_cast<const uint8_t*>(nul) - data;
    lua_pushlstring(L, text + args_len + 1, size - args_len - 1);
    lua_pushlstring(L, text, args_len);
  } else {
    lua_pushlstring(L, text, size);
    lua_pushnil(L);
  }
  fuzz::begin_input(L);
  int rc = lua_pcall(L, 2, 0, 0);
  fuzz::end_input();
  if (rc != 0) {
    const char* msg = lua_tostring(L, -1);
    // Pure text functions have no business raising, whatever the text.
    fuzz::finding(std::string("grub.lua raised: ") + (msg ? msg : "(non-string error)"));
  }
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
