-- imgrecipe translate: golden files of the recipe text for the configs in
-- tests/lua/translate/, and the translated recipe making the same calls,
-- in the same order, as `imgrecipe build` (recipes/yaml.lua runs
-- imgrecipe.alic's plan) — checked with a recording job, no root.
-- Regenerate the golden files after an intended change with
--   IMGRECIPE_UPDATE_GOLDEN=1 imgrecipe test tests/lua/test_translate.lua
local translate = require "imgrecipe.translate"
local alic = require "imgrecipe.alic"
local config = require "imgrecipe.host.config"
local runner = require "imgrecipe.runner"
local sys = require "imgrecipe.host.sys"

local here = sys.realpath(debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$"))
local dir = here .. "/translate"
local CONFIGS = { "basic", "chain", "storage", "iso" }

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- The golden files are rendered from a copy of the fixtures at a path of
-- fixed length (os.tmpname: /tmp/lua_XXXXXX), since the literals' line
-- breaks depend on the width of the paths in them; the copy's directory is
-- written as @DIR@ and its parent as @ROOT@.
local function golden_text(name)
  local root = os.tmpname()
  os.remove(root)
  assert(os.execute(string.format("mkdir -p '%s' && cp -a '%s' '%s/translate'", root, dir, root)) == 0)
  local ok, text = pcall(translate.render, root .. "/translate/" .. name .. ".yaml")
  os.execute(string.format("rm -rf '%s'", root))
  if not ok then error(text, 0) end
  text = text:gsub((root .. "/translate"):gsub("%p", "%%%0"), "@DIR@")
  text = text:gsub(root:gsub("%p", "%%%0"), "@ROOT@")
  return text
end

local function render(name)
  return translate.render(dir .. "/" .. name .. ".yaml")
end

-- Runs `fn` with alic.job replaced by a recorder: every job and image call,
-- and every step, appended to the returned list as one line of text.
local function record(fn)
  local log = {}
  local function args(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = translate.literal((select(i, ...))) end
    -- trailing nils are not part of the call
    while #parts > 0 and parts[#parts] == "nil" do parts[#parts] = nil end
    return table.concat(parts, ", ")
  end
  local img = setmetatable({}, { __index = function(_, k)
    return function(_, ...) log[#log + 1] = "img:" .. k .. "(" .. args(...) .. ")" end
  end })
  local ctx_ = { params = {}, work_dir = "/w" }
  function ctx_.step(_, name, f)
    log[#log + 1] = "step " .. name
    f()
  end
  local saved_job = alic.job
  local ctx = ctx_
  local diskboot = require "imgrecipe.diskboot"
  local saved_regen = diskboot.regenerate_initramfs
  alic.job = function(_, opts)
    log[#log + 1] = "job(" .. translate.literal(opts) .. ")"
    return setmetatable({ img = img, ctx = ctx }, { __index = function(_, k)
      return function(_, ...)
        log[#log + 1] = "job:" .. k .. "(" .. args(...) .. ")"
        if k == "open" then return img end
      end
    end })
  end
  diskboot.regenerate_initramfs = function(i) log[#log + 1] = "diskboot.regenerate_initramfs(" .. tostring(i == img) .. ")" end
  local ok, err = pcall(fn, ctx)
  alic.job, diskboot.regenerate_initramfs = saved_job, saved_regen
  if not ok then error(err, 0) end
  return log
end

local tests = {}

for _, name in ipairs(CONFIGS) do
  tests["test_golden_" .. name] = function(t)
    local text = golden_text(name)
    local golden = dir .. "/" .. name .. ".expected.lua"
    if sys.getenv("IMGRECIPE_UPDATE_GOLDEN") == "1" then
      local f = assert(io.open(golden, "wb"))
      f:write(text)
      f:close()
    end
    t:eq(text, read(golden), name .. ".expected.lua")
  end

  tests["test_same_calls_as_build_" .. name] = function(t)
    local path = dir .. "/" .. name .. ".yaml"
    local recipe = runner.compile(render(name), dir .. "/" .. name .. ".lua")()
    runner.check_recipe(recipe, name, 1)
    -- The same input for both (storage.yaml has none: a required parameter).
    local params = runner.resolve_params(recipe, { input = "/in.raw" }, name)
    local translated = record(function(ctx)
      ctx.params = params
      recipe.run(ctx)
    end)
    local built = record(function(ctx)
      local cfg = config.load(path)
      alic.run(ctx, alic.plan(cfg), { input = "/in.raw" })
    end)
    t:ok(#built > 5, "the build makes calls")
    t:eq(table.concat(translated, "\n"), table.concat(built, "\n"))
  end
end

tests.test_defaults_are_the_config_values = function(t)
  local recipe = runner.compile(render("basic"), "basic.lua")()
  local p = recipe.params
  t:eq(p.input.default, dir:gsub("/tests/lua/translate$", "/tests/lua/images/base.raw"))
  t:eq(p.output.default, dir .. "/out/basic.qcow2")
  t:eq(p.format.default, "qcow2")
  -- No input in the config: the parameter is required.
  local chain = runner.compile(render("chain"), "chain.lua")()
  t:ok(chain.params.input.required, "input required")
  t:eq(chain.params.input.default, nil)
end

tests.test_relative_paths_resolve_against_the_config = function(t)
  local text = render("chain")
  -- tools.list of the base config (base/), read at translation
  t:ok(text:find('"vim", "curl", "less"', 1, true), "package list resolved in base/")
  local basic = render("basic")
  t:ok(basic:find(dir .. "/files/hello.txt", 1, true), "source resolved")
  t:ok(basic:find(dir .. "/files/tree", 1, true), "dir resolved")
  -- users' and scripts' files resolve at run time against the config's directory, as build
  t:ok(basic:find('path = "scripts/post.sh",\n      }, "' .. dir .. '")', 1, true), "script dir")
  t:ok(basic:find('uid = 1600,\n      }, "' .. dir .. '")', 1, true), "password file dir")
end

tests.test_comments_name_key_and_line = function(t)
  local text = render("basic")
  t:ok(text:find("-- os.hostname (basic.yaml:6)", 1, true), "hostname line")
  t:ok(text:find("-- os.users[0] (basic.yaml:11)", 1, true), "users line")
  t:ok(text:find("-- os.additionalFiles[1] (basic.yaml:29)", 1, true), "file line")
  local chain = render("chain")
  t:ok(chain:find("-- os.packages (base.yaml:3)", 1, true), "base config's own file and line")
  -- a last-wins key set only in the base config
  t:ok(chain:find("(os.kernelCommandLine (base.yaml:9), os.bootloader)", 1, true), "last-wins key in the base")
end

tests.test_unsupported_keys_fail = function(t)
  local path = os.tmpname() .. ".yaml"
  local f = assert(io.open(path, "wb"))
  f:write('input:\n  image:\n    azureLinux: {version: "3.0", variant: minimal}\n')
  f:close()
  local ok, err = pcall(translate.render, path)
  os.remove(path)
  t:ok(not ok, "refused")
  t:ok(tostring(type(err) == "table" and err.message or err):find(":3:5: not supported yet: input.image.azureLinux", 1, true),
    "names the key and its line")
end

tests.test_literal_round_trips = function(t)
  local v = { "a", 1, true, { b = "x\ny]]z", ["not-ident"] = 2, ["end"] = 3 }, "tab\there", "" }
  local back = assert(load("return " .. translate.literal(v)))()
  t:eq(translate.literal(back), translate.literal(v))
  t:eq(back[4].b, "x\ny]]z")
  t:eq(back[4]["end"], 3)
end

return tests
