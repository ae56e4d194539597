-- Recipes as a language (issue 11): option tables checked with the closest
-- valid key, errors at the caller's file:line naming the function, strict
-- globals, the library path and library metadata.
local util = require "imgrecipe.util"
local modules = require "imgrecipe.modules"
local image = require "imgrecipe.image"
local squashfs = require "imgrecipe.squashfs"
local iso = require "imgrecipe.iso"

local HERE = debug.getinfo(1, "S").short_src

local function line() return debug.getinfo(2, "l").currentline end

local function message(fn)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error")
  return type(err) == "table" and err.message or tostring(err), err
end

-- An unmounted Image: option checks come before anything touches it.
local function fake_image() return setmetatable({ input = "in.raw" }, image.Image) end

local function write_file(dir, rel, text)
  os.execute("mkdir -p '" .. dir .. "/" .. (rel:match("^(.*)/[^/]*$") or ".") .. "'")
  local f = assert(io.open(dir .. "/" .. rel, "w"))
  f:write(text)
  f:close()
end

return {
  test_misspelt_option_names_function_key_and_closest = function(t)
    local img = fake_image()
    local l = line() + 1
    local msg, err = message(function() img:write_file("/etc/x", "x", { mdoe = "0600" }) end)
    t:eq(msg, string.format("%s:%d: img:write_file: unknown option 'mdoe' (did you mean 'mode'? valid: mode)", HERE, l))
    t:eq(err.kind, "usage")
    t:raises(function() img:run("true", { chek = false }) end, "img:run: unknown option 'chek' (did you mean 'check'?")
    t:raises(function() img:mount({ readonly = true }) end, "img:mount: unknown option 'readonly' (did you mean 'read_only'?")
    t:raises(function() img:save("/x.raw", "raw", { lats = true }) end, "img:save: unknown option 'lats' (did you mean 'last'?")
    t:raises(function() img:packages({ instal = { "vim" } }) end, "img:packages: unknown option 'instal' (did you mean 'install'?")
    t:raises(function() img:add_user({ name = "a", shell = "/bin/sh" }) end, "img:add_user: unknown option 'shell' (valid:")
    t:raises(function() squashfs.create("/nonexistent", "/tmp/x.sqfs", { compresion = "xz" }) end,
      "squashfs.create: unknown option 'compresion' (did you mean 'compression'?")
    t:raises(function() iso.write("/tmp/x.iso", { volumeid = "X" }) end, "iso.write: unknown option 'volumeid' (did you mean 'volume_id'?")
    t:raises(function() image.convert("a", "b", "raw", { scratch = "/tmp" }) end, "image.convert: unknown option 'scratch'")
    -- Tables inside option lists too.
    t:raises(function() img:run("true", { binds = { { host = "/srv", image = "/srv", readonly = true } } }) end,
      "img:run: binds[1]: unknown option 'readonly' (did you mean 'read_only'?")
    t:raises(function() iso.write("/tmp/x.iso", { volume_id = "X", files = { { source = "/a", paht = "/a" } } }) end,
      "iso.write: files[1]: unknown option 'paht' (did you mean 'path'?")
  end,
  test_option_table_shapes = function(t)
    t:raises(function() fake_image():write_file("/x", "x", "0600") end, "img:write_file: expected an option table, got string")
    t:raises(function() fake_image():write_file("/x", "x", { [1] = "0600" }) end,
      "img:write_file: option keys are names, got a number key (valid: mode)")
    t:raises(function() util.check_options("f", { a = 1 }, { a = "string" }) end, "f: option 'a': expected string, got number")
    t:raises(function() util.check_options("f", {}, { a = "string" }, { "a" }) end, "f: option 'a' is required")
    util.check_options("f", nil, { a = "string" })
    util.check_options("f", { a = "x", b = 2 }, { a = "string", b = "number|string" })
  end,
  test_argument_errors_name_function_argument_and_caller_line = function(t)
    local l = line() + 1
    local msg = message(function() image.convert(42, "out.raw", "raw") end)
    t:eq(msg, string.format("%s:%d: image.convert: argument 'input': expected string, got number", HERE, l))
    t:raises(function() fake_image():set_hostname(42) end, "img:set_hostname: argument 'name': expected string, got number")
    -- Raised by a primitive (C++), also shown at the caller's line with the function.
    l = line() + 1
    msg = message(function() image.check_output("/tmp/out.img", "vhdz") end)
    t:ok(msg:find(string.format("%s:%d: image.check_output: ", HERE, l), 1, true) == 1, msg)
  end,
  test_strict_globals = function(t)
    local chunk = setfenv(assert(load("local x = 1\nreturn undefined_name", "@strict.lua")), modules.env)
    t:raises(chunk, "strict.lua:2: read of undeclared global 'undefined_name'")
    chunk = setfenv(assert(load("\ncounter = 1", "@strict.lua")), modules.env)
    t:raises(chunk, "strict.lua:2: assignment to undeclared global 'counter' (make it local, or declare it with imgrecipe.global(\"counter\", value))")
    chunk = setfenv(assert(load("return pirnt", "@strict.lua")), modules.env)
    t:raises(chunk, "read of undeclared global 'pirnt' (did you mean 'print'?)")
    -- Standard globals read through; declared globals can be set and read.
    require("imgrecipe").global("shared_setting", false)
    chunk = setfenv(assert(load("shared_setting = string.upper('on'); return shared_setting", "@strict.lua")), modules.env)
    t:eq(chunk(), "ON")
    t:raises(function() require("imgrecipe").global("not a name", 1) end, "is not a Lua identifier")
    -- This test file itself runs in the strict environment.
    t:raises(function() return undeclared_in_test end, "read of undeclared global 'undeclared_in_test'")
  end,
  test_library_path_and_not_found_message = function(t)
    local dir = os.tmpname()
    os.remove(dir)
    write_file(dir .. "/a", "netlib/ssh.lua", "return { from = 'a' }")
    write_file(dir .. "/b", "netlib/ssh.lua", "return { from = 'b' }")
    write_file(dir .. "/b", "other/init.lua", "return { from = 'b init' }")
    local saved = modules.path()
    modules.set_path({ { dir = dir .. "/a", origin = "--lib-path" }, { dir = dir .. "/b", origin = "IMGRECIPE_LIB_PATH" } })
    local ok, err = pcall(function()
      t:eq(require("netlib.ssh").from, "a", "first directory wins")
      t:eq(require("other").from, "b init", "DIR/name/init.lua")
      local l = line() + 1
      local msg = message(function() require "netlib.missing" end)
      t:ok(msg:find(string.format("%s:%d: module 'netlib.missing' not found:", HERE, l), 1, true) == 1, msg)
      t:ok(msg:find("no netlib/missing.lua or netlib/missing/init.lua in the library path:", 1, true), msg)
      t:ok(msg:find(dir .. "/a (--lib-path)", 1, true), msg)
      t:ok(msg:find(dir .. "/b (IMGRECIPE_LIB_PATH)", 1, true), msg)
      t:ok(not msg:find("package.preload", 1, true) and not msg:find(".so'", 1, true), msg)
    end)
    modules.set_path(saved)
    package.loaded["netlib.ssh"], package.loaded["other"] = nil, nil
    os.execute("rm -rf '" .. dir .. "'")
    if not ok then error(err, 0) end
  end,
  test_library_metadata_and_api_version = function(t)
    local dir = os.tmpname()
    os.remove(dir)
    write_file(dir, "newlib.lua", 'return require("imgrecipe").library{ name = "newlib", version = "3.1.0", api = 99 }')
    write_file(dir, "oklib.lua", 'local lib = require("imgrecipe").library{ name = "oklib", version = "1.2.0", api = 1 }\n'
      .. 'function lib.hello() return "hi" end\nreturn lib')
    write_file(dir, "badlib.lua", 'return require("imgrecipe").library{ name = "badlib", version = "1.2", api = 1 }')
    local saved = modules.path()
    modules.set_path({ { dir = dir, origin = "--lib-path" } })
    local ok, err = pcall(function()
      t:raises(function() require "newlib" end,
        "library 'newlib' 3.1.0 needs imgrecipe API version 99, this imgrecipe provides API version 1")
      local lib = require "oklib"
      t:eq(lib.hello(), "hi")
      t:eq(lib._VERSION, "1.2.0")
      t:eq(lib._API, 1)
      local found = false
      for _, l in ipairs(modules.libraries()) do
        if l.name == "oklib" then found = l.version == "1.2.0" and l.file == dir .. "/oklib.lua" end
      end
      t:ok(found, "oklib listed by modules.libraries()")
      t:raises(function() require "badlib" end, "version '1.2' is not MAJOR.MINOR.PATCH")
      t:raises(function() require("imgrecipe").library{ name = "x", version = "1.0.0" } end,
        "imgrecipe.library: option 'api' is required")
      t:raises(function() require("imgrecipe").library{ name = "x", version = "1.0.0", api = 1, verison = "1" } end,
        "imgrecipe.library: unknown option 'verison' (did you mean 'version'?")
    end)
    modules.set_path(saved)
    os.execute("rm -rf '" .. dir .. "'")
    if not ok then error(err, 0) end
  end,
  test_api_version_is_the_hosts = function(t)
    t:eq(require("imgrecipe").api_version, require("imgrecipe.host.recipe").api_version)
  end,
}
