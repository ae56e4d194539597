--- Small helpers shared by the stdlib: argument validation and paths.
-- @module imgrecipe.util
local M = {}

local host_recipe = require "imgrecipe.host.recipe"

local ErrorMeta = { __tostring = function(e) return e.message end }

-- The name a function was called by, for messages when no recipe frame is
-- on the stack (the built-in recipes): level 1 is the caller of this.
local function called_name(level)
  local info = debug.getinfo(level + 1, "n")
  return info and info.name
end

--- Raises a usage error naming the function, the argument and what was
--- expected. Modeled on vim.validate: `validate("size", size, "number")`.
---@param name string argument name shown in the message
---@param value any
---@param expected string|string[] accepted Lua type names
---@param optional? boolean nil is accepted
function M.validate(name, value, expected, optional)
  if value == nil and optional then return end
  local types = type(expected) == "table" and expected or { expected }
  for _, t in ipairs(types) do
    if type(value) == t then return end
  end
  local msg = string.format("argument '%s': expected %s, got %s", name, table.concat(types, "|"), type(value))
  local fn = not host_recipe.call_site() and called_name(2)
  M.raise("usage", fn and (fn .. ": " .. msg) or msg)
end

--- A structured error like the host's (kind, message, __tostring).
---@param message string
---@return table
function M.usage_error(message)
  return setmetatable({ kind = "usage", message = message }, ErrorMeta)
end

--- Raises a structured error of `kind`. When a recipe, library or test file
--- is on the stack, the message starts with its file:line (the first frame
--- outside the stdlib), and a usage error names the function it called.
---@param kind string usage|config|unsupported|recipe|command
---@param message string
---@param fields? table more fields of the error (command=, exit_code=, output=); `func` names the function
function M.raise(kind, message, fields)
  local e = fields or {}
  local func = e.func
  e.func = nil
  e.kind, e.message = kind, host_recipe.locate(message, kind == "usage", func)
  error(setmetatable(e, ErrorMeta), 2)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

--- Checks an option table: every key must be one of `spec`'s (else a usage
--- error naming the function, the key and the closest valid key), and each
--- value of the type `spec` gives ("string", "number|string", "any", ...).
--- `required` lists keys that must be present. nil `opts` is accepted.
---
---     util.check_options("img:write_file", opts, { mode = "string|number" })
---@param fname string the public function, as recipes call it ("img:write_file")
---@param opts table|nil
---@param spec table<string, string>|string[] key -> accepted type names, or the keys (any type)
---@param required? string[]
function M.check_options(fname, opts, spec, required)
  if opts == nil and not required then return end
  if spec[1] ~= nil then
    local map = {}
    for _, k in ipairs(spec) do map[k] = "any" end
    spec = map
  end
  if type(opts) ~= "table" then
    M.raise("usage", string.format("%s: expected an option table, got %s", fname, type(opts)), { func = fname })
  end
  for k, v in pairs(opts) do
    local want = type(k) == "string" and spec[k]
    if not want then
      local known = sorted_keys(spec)
      if type(k) ~= "string" then
        M.raise("usage", string.format("%s: option keys are names, got a %s key (valid: %s)", fname, type(k),
          table.concat(known, ", ")), { func = fname })
      end
      local best = host_recipe.closest(k, known)
      M.raise("usage", string.format("%s: unknown option '%s' (%svalid: %s)", fname, k,
        best and ("did you mean '" .. best .. "'? ") or "", table.concat(known, ", ")), { func = fname })
    end
    if want ~= "any" then
      local okt = false
      for t in want:gmatch("[^|]+") do
        if type(v) == t then okt = true end
      end
      if not okt then
        M.raise("usage", string.format("%s: option '%s': expected %s, got %s", fname, k, want, type(v)),
          { func = fname })
      end
    end
  end
  for _, k in ipairs(required or {}) do
    if opts[k] == nil then
      M.raise("usage", string.format("%s: option '%s' is required", fname, k), { func = fname })
    end
  end
end

--- Checks each table of a list option with check_options: errors name the
--- element (`img:run: binds[2]: unknown option 'readonly' (did you mean
--- 'read_only'?)`). A nil list is accepted; the list's own type is checked.
---@param fname string
---@param name string the option holding the list ("binds")
---@param list table[]|nil
---@param spec table<string, string>|string[]
function M.check_option_list(fname, name, list, spec)
  if list == nil then return end
  if type(list) ~= "table" then
    M.raise("usage", string.format("%s: option '%s': expected a list, got %s", fname, name, type(list)), { func = fname })
  end
  for i, item in ipairs(list) do
    M.check_options(string.format("%s: %s[%d]", fname, name, i), item, spec)
  end
end

--- Calls `fn(...)` and returns its result; an error's message is prefixed
--- with `what` (and loses the host's "step '...': " prefix, which the
--- enclosing step puts back in front of both).
---@param what string
---@param fn function
---@param ... any the arguments of `fn`
function M.annotate(what, fn, ...)
  local ok, res = pcall(fn, ...)
  if ok then return res end
  if type(res) == "table" and res.message then
    res.message = what .. ": " .. res.message:gsub("^step '[^']*': ", "")
  end
  error(res, 0)
end

local BIN_DIRS = { "/usr/bin", "/usr/sbin", "/bin", "/sbin" }

--- The path of the first of `names` found in the image's program
--- directories (/usr/bin, /usr/sbin, /bin, /sbin), or nil.
---@param root table an Image or a Disk root (anything with :exists)
---@param names string|string[]
---@return string|nil
function M.find_program(root, names)
  if type(names) == "string" then names = { names } end
  for _, name in ipairs(names) do
    for _, d in ipairs(BIN_DIRS) do
      if root:exists(d .. "/" .. name) then return d .. "/" .. name end
    end
  end
end

--- The directory part of a path: "." without a slash, "/" for "/x".
---@param path string
---@return string
function M.dirname(path)
  local d = path:match("^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end

--- Joins `rel` to `base` unless `rel` is absolute.
---@param base string
---@param rel string
---@return string
function M.join(base, rel)
  if rel:sub(1, 1) == "/" then return rel end
  if base:sub(-1) == "/" then return base .. rel end
  return base .. "/" .. rel
end

--- Parses an octal mode ("0644", "644" or a number) into a number.
---@param mode string|number
---@return number
function M.mode(mode)
  if type(mode) == "number" then return mode end
  local n = tonumber(mode, 8)
  if n == nil or not mode:match("^[0-7]+$") then
    M.raise("usage", string.format("invalid mode '%s' (expected octal such as 0644)", tostring(mode)))
  end
  return n
end

--- Rewrites `text` line by line, keeping the exact line endings and the
--- final newline (or its absence).
---@param text string
---@param edit fun(line: string): string the new line, without its newline
---@return string
function M.map_lines(text, edit)
  local out = {}
  for line, nl in text:gmatch("([^\n]*)(\n?)") do
    if line == "" and nl == "" then break end
    out[#out + 1] = edit(line) .. nl
  end
  return table.concat(out)
end

--- Shell-quotes one word.
---@param s string
---@return string
function M.shell_quote(s)
  if s:match("^[%w%-%./_=:,+@]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Writes `text` to the host file `path` (a work file of the build
--- directory or a staged output tree); a `system` error names the path.
---@param path string
---@param text string
function M.write_host(path, text)
  local f, err = io.open(path, "wb")
  if not f then M.raise("system", "cannot write " .. path .. ": " .. tostring(err)) end
  local ok, werr = f:write(text)
  local closed, cerr = f:close()
  if not ok or not closed then M.raise("system", "cannot write " .. path .. ": " .. tostring(werr or cerr)) end
end

--- Copies the host file `from` to `to` in 1 MiB pieces; a `usage` error
--- when `from` cannot be read (a config's source), a `system` one when `to`
--- cannot be written.
---@param from string
---@param to string
function M.copy_host(from, to)
  local src, rerr = io.open(from, "rb")
  if not src then M.raise("usage", "cannot read " .. from .. ": " .. tostring(rerr)) end
  local dst, err = io.open(to, "wb")
  if not dst then src:close(); M.raise("system", "cannot write " .. to .. ": " .. tostring(err)) end
  while true do
    local chunk = src:read(1048576)
    if not chunk then break end
    dst:write(chunk)
  end
  src:close()
  local ok, cerr = dst:close()
  if not ok then M.raise("system", "cannot write " .. to .. ": " .. tostring(cerr)) end
end

return M
