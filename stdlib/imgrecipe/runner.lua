--- Loads and runs a recipe (internal: called by the host).
-- @module imgrecipe.runner
local context = require "imgrecipe.context"
local sys = require "imgrecipe.host.sys"
local log = require "imgrecipe.host.log"
local util = require "imgrecipe.util"
local modules = require "imgrecipe.modules"
local host_recipe = require "imgrecipe.host.recipe"

local M = {}

--- Compiles a recipe's source text; `path` names it in error messages.
--- (load_recipe, check_recipe and resolve_params are separate so that the
--- fuzz target tests/fuzz/fuzz_recipe.cpp runs the same code on any text.)
function M.compile(text, path)
  -- LuaJIT does not verify bytecode: a corrupted chunk crashes the process.
  if text:sub(1, 1) == "\27" then
    util.raise("recipe", path .. ": is compiled Lua bytecode; a recipe must be Lua source text")
  end
  local chunk, err = load(text, "@" .. path, "t")
  if not chunk then util.raise("recipe", err) end
  -- Undeclared globals are errors (imgrecipe.modules).
  return setfenv(chunk, modules.env)
end

local function load_recipe(spec)
  local builtin = spec:match("^builtin:(.+)$")
  if builtin then
    local ok, recipe = pcall(require, "imgrecipe.recipes." .. builtin)
    if not ok then util.raise("usage", string.format("no built-in recipe '%s'", builtin)) end
    return recipe, sys.realpath(".")
  end
  if sys.kind(spec) ~= "file" then util.raise("usage", string.format("recipe file '%s' not found", spec)) end
  local path = sys.realpath(spec)
  local dir = util.dirname(path)
  local f, err = io.open(path, "rb")
  if not f then util.raise("recipe", err) end
  local text = f:read("*a")
  f:close()
  local recipe = M.compile(text, path)()
  return recipe, dir, path
end

local RECIPE_FIELDS = { "name", "run", "description", "api", "params" }
local PARAM_FIELDS = { "required", "default", "description", "list" }

-- A misspelt field ("descripton", "requried") is an error, not ignored.
local function unknown_fields(t, known, what)
  for k in pairs(t) do
    local ok = false
    for _, f in ipairs(known) do
      if k == f then ok = true end
    end
    if not ok then
      local best = type(k) == "string" and host_recipe.closest(k, known)
      -- Never tostring() a key: a table key's __tostring is the recipe's code.
      local shown = type(k) == "string" and ("'" .. k .. "'") or ("(a " .. type(k) .. " key)")
      util.raise("recipe", string.format("%s %s (%svalid: %s)", what, shown,
        best and ("did you mean '" .. best .. "'? ") or "", table.concat(known, ", ")))
    end
  end
end

--- Checks the recipe contract; errors name the file and the field.
local function check_recipe(recipe, name, api_version)
  if type(recipe) ~= "table" then
    util.raise("recipe", string.format("%s must return a table (got %s)", name, type(recipe)))
  end
  local fields = { name = "string", run = "function" }
  for field, t in pairs(fields) do
    if type(recipe[field]) ~= t then
      util.raise("recipe", string.format("%s is missing required field: '%s' (%s)", name, field, t))
    end
  end
  for _, field in ipairs({ "description" }) do
    if recipe[field] ~= nil and type(recipe[field]) ~= "string" then
      util.raise("recipe", string.format("%s: field '%s' must be a string", name, field))
    end
  end
  unknown_fields(recipe, RECIPE_FIELDS, name .. ": unknown recipe field")
  if recipe.params ~= nil and type(recipe.params) ~= "table" then
    util.raise("recipe", string.format("%s: field 'params' must be a table", name))
  end
  -- resolve_params sorts the names and concatenates descriptions.
  for k, spec in pairs(recipe.params or {}) do
    if type(k) ~= "string" then
      util.raise("recipe", string.format("%s: params: every key must be a parameter name (got a %s)", name, type(k)))
    end
    if type(spec) ~= "table" then
      util.raise("recipe", string.format("%s: parameter '%s' must be a table such as { required = true }", name, k))
    end
    unknown_fields(spec, PARAM_FIELDS, string.format("%s: parameter '%s': unknown field", name, k))
    if spec.description ~= nil and type(spec.description) ~= "string" then
      util.raise("recipe", string.format("%s: parameter '%s': field 'description' must be a string", name, k))
    end
  end
  if recipe.api ~= nil and (type(recipe.api) ~= "number" or recipe.api > api_version) then
    util.raise("recipe", string.format("%s needs API version %s, this imgrecipe provides %d", name,
      tostring(recipe.api), api_version))
  end
end

local function resolve_params(recipe, given, name)
  local spec = recipe.params or {}
  local out = {}
  for k, v in pairs(given) do
    if spec[k] == nil then
      local known = {}
      for key in pairs(spec) do known[#known + 1] = key end
      table.sort(known)
      util.raise("usage", string.format("%s has no parameter '%s' (known: %s)", name, k,
        #known > 0 and table.concat(known, ", ") or "none"))
    end
    local is_list = type(spec[k]) == "table" and spec[k].list
    if type(v) == "table" and not is_list then
      util.raise("usage", string.format("%s: parameter '%s' given more than once", name, k))
    end
    -- A list parameter given once still arrives as a list.
    if is_list and type(v) ~= "table" then v = { v } end
    out[k] = v
  end
  for k, s in pairs(spec) do
    if out[k] == nil and type(s) == "table" then
      if s.default ~= nil then
        out[k] = s.default
      elseif s.required then
        util.raise("usage", string.format("%s needs parameter '%s'%s (pass --param %s=VALUE)", name, k,
          s.description and (" (" .. s.description .. ")") or "", k))
      elseif s.list then
        out[k] = {}
      end
    end
  end
  return out
end

M.check_recipe = check_recipe
M.resolve_params = resolve_params

--- Entry point: req = {recipe=, build_dir=, work_dir=, params=, api_version=,
--- library_path=}. The host creates work_dir and removes it after every mount
--- is released; library_path starts with the recipe's directory.
function M.main(req)
  local build_dir = sys.set_build_dir(req.build_dir)
  modules.set_path(req.library_path)
  local recipe, recipe_dir, path = load_recipe(req.recipe)
  local name = path or req.recipe
  check_recipe(recipe, name, req.api_version)
  local params = resolve_params(recipe, req.params or {}, name)
  local work_dir = req.work_dir
  local ctx = context.new({
    params = params, build_dir = build_dir, work_dir = work_dir,
    recipe_dir = recipe_dir, api_version = req.api_version,
  })
  log.info(string.format("running recipe '%s'", recipe.name))
  for _, lib in ipairs(modules.libraries()) do
    log.info(string.format("library '%s' %s (API %d) from %s", lib.name, lib.version, lib.api, lib.file))
  end
  local ok, err = pcall(recipe.run, ctx)
  ctx:close_all()
  if not ok then error(err, 0) end
end

return M
