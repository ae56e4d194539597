--- Recipe libraries: the library path `require` searches, the strict
--- global environment of recipes, libraries and test files, and library
--- metadata (`imgrecipe.library`). docs/recipes.md explains all three.
-- @module imgrecipe.modules
local host = require "imgrecipe.host.recipe"
local util = require "imgrecipe.util"

local M = {}

--- The API version this imgrecipe provides.
M.api_version = host.api_version

-- This run's library path: { {dir=, origin=}, ... } (host/system/library_path).
local path = {}

--- Sets the library path: `require "a.b"` loads `DIR/a/b.lua` or
--- `DIR/a/b/init.lua` from the first directory that has one.
---@param dirs {dir: string, origin: string}[]
function M.set_path(dirs)
  path = {}
  local templates = {}
  for i, d in ipairs(dirs or {}) do
    path[i] = { dir = d.dir, origin = d.origin }
    templates[#templates + 1] = d.dir .. "/?.lua;" .. d.dir .. "/?/init.lua"
  end
  package.path = table.concat(templates, ";")
end

--- The library path, in search order.
---@return {dir: string, origin: string}[]
function M.path()
  local out = {}
  for i, d in ipairs(path) do out[i] = { dir = d.dir, origin = d.origin } end
  return out
end

-- The "not found" part of require's message: what was looked for, where.
local function not_found(name)
  local rel = name:gsub("%.", "/")
  local origins = {}
  for _, d in ipairs(path) do origins[d.dir] = d.origin end
  local lines, seen = {}, {}
  for template in package.path:gmatch("[^;]+") do
    local dir = template:match("^(.*)/%?%.lua$") or template:match("^(.*)/%?/init%.lua$")
    if dir and not seen[dir] then
      seen[dir] = true
      lines[#lines + 1] = "\n\t\t" .. dir .. (origins[dir] and (" (" .. origins[dir] .. ")") or "")
    end
  end
  if #lines == 0 then lines[1] = "\n\t\t(none)" end
  return string.format("\n\tno %s.lua or %s/init.lua in the library path:%s\n\t"
    .. "(add a directory with --lib-path DIR or IMGRECIPE_LIB_PATH; see docs/recipes.md)",
    rel, rel, table.concat(lines))
end

--- package.loaders entry for recipe libraries: source text only (LuaJIT
--- does not verify bytecode), loaded into the strict environment.
---@param name string
function M.searcher(name)
  local file = package.searchpath(name, package.path)
  if not file then return not_found(name) end
  local chunk, err = loadfile(file, "t", M.env)
  if not chunk then
    error(string.format("error loading module '%s' from file '%s':\n\t%s", name, file, err), 0)
  end
  return chunk
end

--- Installs the searcher (called once by the host when the state is made).
function M.install()
  package.loaders[#package.loaders + 1] = M.searcher
end

-- Strict globals ----------------------------------------------------------

local declared = {}

local function global_names()
  local names = {}
  for k in pairs(_G) do
    if type(k) == "string" then names[#names + 1] = k end
  end
  for k in pairs(declared) do names[#names + 1] = k end
  return names
end

local function did_you_mean(name)
  local best = type(name) == "string" and host.closest(name, global_names())
  return best and string.format(" (did you mean '%s'?)", best) or ""
end

-- `require` that reports a missing module at the line that requires it.
local function located_require(name)
  local ok, res = pcall(require, name)
  if ok then return res end
  if type(res) == "string" and res:find("^module '") then util.raise("recipe", res) end
  error(res, 0)
end

--- The environment of recipes, libraries and test files: the standard
--- globals read through, but reading or assigning an undeclared global is an
--- error at the line that does it (a misspelt local is caught on first use).
--- Declare a global with `imgrecipe.global(name, value)`.
M.env = setmetatable({ require = located_require }, {
  __index = function(_, k)
    local v = rawget(_G, k)
    if v == nil and not declared[k] then
      util.raise("recipe", string.format("read of undeclared global '%s'%s", tostring(k), did_you_mean(k)))
    end
    return v
  end,
  __newindex = function(t, k, v)
    if not declared[k] then
      util.raise("recipe", string.format("assignment to undeclared global '%s' (make it local, or declare it "
        .. "with imgrecipe.global(%q, value))", tostring(k), tostring(k)))
    end
    rawset(t, k, v)
  end,
})

--- Declares a global shared by the recipe, its libraries and test files.
---@param name string a Lua identifier
---@param value any
function M.global(name, value)
  util.validate("name", name, "string")
  if not name:match("^[%a_][%w_]*$") then
    util.raise("usage", string.format("imgrecipe.global: '%s' is not a Lua identifier", name))
  end
  declared[name] = true
  rawset(M.env, name, value)
end

-- Library metadata --------------------------------------------------------

local loaded = {}

---@class imgrecipe.LibraryInfo
---@field name string the library's name, as it is required ("mylib" or "org.mylib")
---@field version string its own version, MAJOR.MINOR.PATCH
---@field api integer the imgrecipe API version it needs
---@field description? string

--- Declares a library: checks that this imgrecipe provides the API version
--- the library needs and returns the library's module table, with `_NAME`,
--- `_VERSION`, `_API` and `_DESCRIPTION` set. Call it first in the library:
---
---     local lib = require("imgrecipe").library{ name = "hardening", version = "1.2.0", api = 1 }
---@param info imgrecipe.LibraryInfo
---@return table
function M.library(info)
  util.check_options("imgrecipe.library", info,
    { name = "string", version = "string", api = "number", description = "string" },
    { "name", "version", "api" })
  if not info.version:match("^%d+%.%d+%.%d+$") then
    util.raise("usage", string.format("library '%s': version '%s' is not MAJOR.MINOR.PATCH (e.g. 1.2.0)",
      info.name, info.version), { func = "imgrecipe.library" })
  end
  if info.api < 1 or info.api ~= math.floor(info.api) then
    util.raise("usage", string.format("library '%s': api must be a whole number >= 1, got %s", info.name,
      tostring(info.api)), { func = "imgrecipe.library" })
  end
  if info.api > M.api_version then
    util.raise("recipe", string.format("library '%s' %s needs imgrecipe API version %d, this imgrecipe "
      .. "provides API version %d: upgrade imgrecipe or use an older '%s'", info.name, info.version, info.api,
      M.api_version, info.name))
  end
  local src = debug.getinfo(2, "S")
  loaded[#loaded + 1] = { name = info.name, version = info.version, api = info.api,
    file = src and src.source:gsub("^@", "") or "?" }
  return { _NAME = info.name, _VERSION = info.version, _API = info.api, _DESCRIPTION = info.description }
end

--- The libraries declared so far in this run: `{ {name=, version=, api=, file=}, ... }`.
---@return table[]
function M.libraries()
  local out = {}
  for i, l in ipairs(loaded) do out[i] = { name = l.name, version = l.version, api = l.api, file = l.file } end
  return out
end

return M
