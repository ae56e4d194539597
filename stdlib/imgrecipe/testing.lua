--- A small test runner for recipe libraries and the stdlib (`imgrecipe test`).
--- A test file returns a table whose `test_*` functions take `t`:
---
---     return {
---       test_sum = function(t) t:eq(1 + 1, 2) end,
---     }
-- @module imgrecipe.testing
local modules = require "imgrecipe.modules"

local M = {}

---@class imgrecipe.T
local T = {}
T.__index = T

-- A failed command's last output lines go with its message: a test that
-- fails on CI must say why.
local function error_text(e)
  if type(e) ~= "table" then return tostring(e) end
  local text = tostring(e.message)
  if type(e.output) == "table" and #e.output > 0 then
    text = text .. "\n  | " .. table.concat(e.output, "\n  | ")
  end
  return text
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

--- Fails unless `actual == expected`.
---@param actual any
---@param expected any
---@param what? string names the value in the failure
function T:eq(actual, expected, what)
  if actual ~= expected then
    error(string.format("%sexpected %s, got %s", what and (what .. ": ") or "", show(expected), show(actual)), 2)
  end
end

--- Fails unless `v` is truthy.
---@param v any
---@param what? string the failure message
function T:ok(v, what)
  if not v then error((what or "expected a true value"), 2) end
end

--- Fails unless `fn` raises an error whose text contains `needle` (plain).
---@param fn function
---@param needle? string
function T:raises(fn, needle)
  local ok, err = pcall(fn)
  if ok then error("expected an error", 2) end
  local text = error_text(err)
  if needle and not text:find(needle, 1, true) then
    error(string.format("error %q does not contain %q", text, needle), 2)
  end
end

--- Runs every test_* function of each file; returns the number of failures.
--- A test file runs as a recipe would: in the strict environment, finding
--- modules on `library_paths[i]` (its directory first).
---@param files string[]
---@param library_paths? {dir: string, origin: string}[][]
---@return integer
function M.run_files(files, library_paths)
  local passed, failed = 0, 0
  for i, file in ipairs(files) do
    if library_paths and library_paths[i] then modules.set_path(library_paths[i]) end
    -- source only: bytecode is not verified
    local chunk, err = loadfile(file, "t", modules.env)
    local suite = chunk and chunk() or nil
    if type(suite) ~= "table" then
      print("FAIL " .. file .. ": " .. tostring(err or "does not return a table of tests"))
      failed = failed + 1
    else
      local names = {}
      for name, fn in pairs(suite) do
        if type(fn) == "function" and name:match("^test_") then names[#names + 1] = name end
      end
      table.sort(names)
      for _, name in ipairs(names) do
        local ok, e = pcall(suite[name], setmetatable({}, T))
        if ok then
          passed = passed + 1
          print("ok   " .. name)
        else
          failed = failed + 1
          print("FAIL " .. name .. ": " .. error_text(e))
        end
      end
    end
  end
  print(string.format("%d passed, %d failed", passed, failed))
  return failed
end

return M
