--- Small helpers shared by the stdlib: argument validation and paths.
-- @module imgrecipe.util
local M = {}

local ErrorMeta = { __tostring = function(e) return e.message end }

--- Raises a usage error naming the argument and what was expected.
--- Modeled on vim.validate: `validate("size", size, "number")`.
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
  error(M.usage_error(string.format("argument '%s': expected %s, got %s", name, table.concat(types, "|"), type(value))), 3)
end

--- A structured error like the host's (kind, message, __tostring).
---@param message string
---@return table
function M.usage_error(message)
  return setmetatable({ kind = "usage", message = message }, ErrorMeta)
end

--- Raises a structured error of `kind`.
---@param kind string usage|config|unsupported|recipe|command
---@param message string
---@param fields? table more fields of the error (command=, exit_code=, output=)
function M.raise(kind, message, fields)
  local e = fields or {}
  e.kind, e.message = kind, message
  error(setmetatable(e, ErrorMeta), 2)
end

--- Calls `fn(...)` and returns its result; an error's message is prefixed
--- with `what` (and loses the host's "step '...': " prefix, which the
--- enclosing step puts back in front of both).
---@param what string
---@param fn function
function M.annotate(what, fn, ...)
  local ok, res = pcall(fn, ...)
  if ok then return res end
  if type(res) == "table" and res.message then
    res.message = what .. ": " .. res.message:gsub("^step '[^']*': ", "")
  end
  error(res, 0)
end

--- Directory part of a path ("." when none).
---@param path string
---@return string
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

return M
