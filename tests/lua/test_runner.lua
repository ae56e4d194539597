-- imgrecipe.runner: the recipe contract check and parameter resolution, on
-- malformed recipes (cases found by tests/fuzz/fuzz_recipe).
local runner = require "imgrecipe.runner"

local function recipe(params)
  return { name = "r", run = function() end, params = params }
end

return {
  test_valid_recipe_and_params = function(t)
    local r = recipe({ input = { required = true }, pkg = { list = true }, mode = { default = "fast" } })
    runner.check_recipe(r, "r.lua", 1)
    local p = runner.resolve_params(r, { input = "a.raw", pkg = "vim" }, "r.lua")
    t:eq(p.input, "a.raw")
    t:eq(p.pkg[1], "vim")
    t:eq(p.mode, "fast")
  end,
  test_compile_names_the_file = function(t)
    t:raises(function() runner.compile("return {", "/x/r.lua") end, "/x/r.lua:1:")
  end,
  test_compiled_chunks_are_refused = function(t)
    -- Was: loaded as LuaJIT bytecode, which LuaJIT does not verify: a
    -- corrupted one crashed imgrecipe with SIGSEGV.
    local bytecode = string.dump(function() return { name = "r", run = function() end } end)
    t:raises(function() runner.compile(bytecode, "/x/r.lua") end,
      "/x/r.lua: is compiled Lua bytecode; a recipe must be Lua source text")
  end,
  test_required_modules_are_source_only = function(t)
    -- A recipe's own modules are found on package.path; bytecode there
    -- would crash LuaJIT just the same.
    local base = os.tmpname()
    local file = base .. "_bcmod.lua"
    local f = assert(io.open(file, "wb"))
    f:write(string.dump(function() return {} end))
    f:close()
    local saved = package.path
    package.path = base .. "_?.lua"
    local ok, err = pcall(require, "bcmod")
    package.path = saved
    os.remove(file)
    os.remove(base)
    t:ok(not ok, "bytecode module was loaded")
    t:ok(tostring(err):find("wrong mode", 1, true), tostring(err))
  end,
  test_param_keys_must_be_names = function(t)
    -- Was: "attempt to compare number with string" from table.sort while
    -- listing the known parameters for an unknown one.
    local r = recipe({ [1] = {}, input = {} })
    t:raises(function() runner.check_recipe(r, "r.lua", 1) end, "r.lua: params: every key must be a parameter name (got a number)")
  end,
  test_param_spec_must_be_a_table = function(t)
    local r = recipe({ input = "required" })
    t:raises(function() runner.check_recipe(r, "r.lua", 1) end, "r.lua: parameter 'input' must be a table such as { required = true }")
  end,
  test_param_description_must_be_a_string = function(t)
    -- Was: "attempt to concatenate field 'description' (a table value)" when
    -- the required parameter was missing.
    local r = recipe({ input = { required = true, description = {} } })
    t:raises(function() runner.check_recipe(r, "r.lua", 1) end, "r.lua: parameter 'input': field 'description' must be a string")
  end,
  test_misspelt_recipe_fields_are_errors = function(t)
    local r = recipe({ input = { requried = true } })
    t:raises(function() runner.check_recipe(r, "r.lua", 1) end,
      "r.lua: parameter 'input': unknown field 'requried' (did you mean 'required'? valid: required, default, description, list)")
    r = recipe({})
    r.descripton = "x"
    t:raises(function() runner.check_recipe(r, "r.lua", 1) end,
      "r.lua: unknown recipe field 'descripton' (did you mean 'description'?")
  end,
}
