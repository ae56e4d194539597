--- GRUB configuration editing: pure text, except edit_configs, which goes
-- through an Image.
-- Handles configs written by grub-mkconfig and by hand, in /boot/grub or
-- /boot/grub2, and /etc/default/grub.
-- @module imgrecipe.grub
local names = require "imgrecipe.host.names"
local util = require "imgrecipe.util"

local map_lines = util.map_lines

local M = {}

--- Where grub.cfg may be, in the order they are tried.
M.CONFIGS = { "/boot/grub2/grub.cfg", "/boot/grub/grub.cfg" }

local function split_words(s)
  local words = {}
  for w in s:gmatch("%S+") do words[#words + 1] = w end
  return words
end

local function contains(list, item)
  for _, v in ipairs(list) do
    if v == item then return true end
  end
  return false
end

-- Applies `edit(line, captures...)` to each `linux`/`linuxefi`/`linux16` line
-- matching `pattern` (its second capture is the command). Returns the new
-- text and the number of such lines.
local function edit_kernel_lines(text, pattern, edit)
  local count = 0
  local new = map_lines(text, function(line)
    local caps = { line:match(pattern) }
    local cmd = caps[2]
    if cmd ~= "linux" and cmd ~= "linuxefi" and cmd ~= "linux16" then return line end
    count = count + 1
    return edit(line, unpack(caps))
  end)
  return new, count
end

--- Raises a usage error unless every item of `args` is a string the kernel
--- command line can hold (host/security/names.hpp, the rules of the config's
--- os.kernelCommandLine.extraCommandLine): no control characters (a newline
--- would add grub.cfg lines), balanced double quotes, no GRUB or shell
--- metacharacters.
---@param args string[]
function M.check_kernel_args(args)
  util.validate("args", args, "table")
  for i, a in ipairs(args) do
    if type(a) ~= "string" then
      util.raise("usage", string.format("kernel argument %d: expected a string, got %s", i, type(a)))
    end
    local why = names.kernel_argument(a)
    if why then util.raise("usage", string.format("invalid kernel argument '%s': %s", names.shown(a), why)) end
  end
end

-- Characters GRUB's script lexer takes as they are outside quotes; any
-- other (';', '$', '|', '&', '<', '>', '{', '}', '`', '#', quotes, '\\',
-- and '*', '?', '[', ']' that the regexp module expands) needs quoting.
local GRUB_PLAIN = "^[%w%-%._,:/=+@%%^~!]*$"

-- `arg` split at the kernel's own double quotes (foo="a b"): the parts
-- alternate outside and inside; an even count means one is left open.
local function kernel_quote_parts(arg)
  local parts = {}
  for part in (arg .. '"'):gmatch('([^"]*)"') do parts[#parts + 1] = part end
  return parts
end

--- One kernel argument as it is written in a grub.cfg `linux` line so that
--- GRUB passes it to the kernel as written: unchanged when GRUB's script
--- syntax takes it literally, else single-quoted (GRUB's single quotes
--- keep every character; a single quote inside is written '\''). The
--- kernel's own double quotes (`foo="a b"`) stay GRUB double quotes, with
--- `$` and `\\` escaped inside; whitespace outside them still separates
--- arguments, as before. GRUB 2.06's linux command writes `'` and `\\` to
--- the kernel with a backslash before them: check_kernel_args refuses both.
---@param arg string
---@return string
function M.quote_arg(arg)
  util.validate("arg", arg, "string")
  local parts = kernel_quote_parts(arg)
  if #parts % 2 == 0 then
    util.raise("usage", string.format("invalid kernel argument '%s': unbalanced double quote", names.shown(arg)))
  end
  local out = {}
  for i, part in ipairs(parts) do
    if i % 2 == 0 then
      out[#out + 1] = '"' .. part:gsub('[$\\]', "\\%0") .. '"'
    else
      out[#out + 1] = part:gsub("%S+", function(word)
        if word:match(GRUB_PLAIN) then return word end
        return "'" .. word:gsub("'", "'\\''") .. "'"
      end)
    end
  end
  return table.concat(out)
end

--- `args` as the arguments of a grub.cfg `linux` line: each quote_arg'ed,
--- space-separated (checked first: check_kernel_args).
---@param args string[]
---@return string
function M.quote_args(args)
  M.check_kernel_args(args)
  local out = {}
  for i, a in ipairs(args) do out[i] = M.quote_arg(a) end
  return table.concat(out, " ")
end

--- The kernel arguments written in `text` (the arguments of a grub.cfg
--- `linux` line), read as GRUB's script lexer does: single-quoted parts and
--- backslash escapes are unquoted, double-quoted parts kept with their
--- quotes when they hold whitespace (the kernel's own quoting, foo="a b").
--- The inverse of quote_arg.
---@param text string
---@return string[]
function M.split_args(text)
  util.validate("text", text, "string")
  local out = {}
  for _, w in ipairs(M.grub_words(text)) do out[#out + 1] = w.arg end
  return out
end

--- GRUB's words of `text`: `{raw=, arg=}` each, `raw` as written and `arg`
--- the kernel argument it stands for (split_args). The second result is
--- false when a quote is not closed or the text ends in a backslash (GRUB
--- would read on into the next line).
---@param text string
---@return {raw: string, arg: string}[]
---@return boolean complete
function M.grub_words(text)
  util.validate("text", text, "string")
  local out, i, n, complete = {}, 1, #text, true
  while i <= n do
    if text:sub(i, i):match("%s") then
      i = i + 1
    else
      local start, arg = i, {}
      while i <= n and not text:sub(i, i):match("%s") do
        local c = text:sub(i, i)
        if c == "'" then
          local j = text:find("'", i + 1, true)
          if not j then j, complete = n + 1, false end
          arg[#arg + 1] = text:sub(i + 1, j - 1)
          i = j + 1
        elseif c == '"' then
          local buf, j = { '"' }, i + 1
          while j <= n and text:sub(j, j) ~= '"' do
            local d = text:sub(j, j)
            if d == "\\" and text:sub(j + 1, j + 1):match('^[$"\\]$') then
              buf[#buf + 1] = text:sub(j + 1, j + 1)
              j = j + 2
            else
              buf[#buf + 1] = d
              j = j + 1
            end
          end
          if j > n then complete = false end
          buf[#buf + 1] = '"'
          -- Quotes around no whitespace mean nothing to the kernel either.
          local part = table.concat(buf)
          arg[#arg + 1] = part:find("%s") and part or part:sub(2, -2)
          i = j + 1
        elseif c == "\\" and i < n then
          arg[#arg + 1] = text:sub(i + 1, i + 1)
          i = i + 2
        elseif c == "\\" then
          complete = false
          arg[#arg + 1] = c
          i = i + 1
        else
          arg[#arg + 1] = c
          i = i + 1
        end
      end
      out[#out + 1] = { raw = text:sub(start, i - 1), arg = table.concat(arg) }
    end
  end
  return out, complete
end

-- The words of a kernel line's arguments for an edit: a line GRUB would
-- continue into the next one cannot be edited on its own (arguments added
-- after an open quote would land inside it).
local function line_words(rest)
  local words, complete = M.grub_words(rest)
  if not complete then
    util.raise("usage", string.format("grub.cfg: the kernel line '%s' has an unclosed quote or ends in a backslash: "
      .. "kernel arguments cannot be added to it", (rest:gsub("^%s+", ""))))
  end
  return words
end

-- `args` as words inside a `quote`d shell string of /etc/default/grub,
-- which grub-mkconfig copies into grub.cfg as they are: escaped for GRUB
-- (a backslash before each character it would not take literally), then
-- for the shell: in "...", a backslash before '\\', '$', '"' and '`'.
local function shell_words(args, quote)
  local out = {}
  for i, a in ipairs(args) do
    local parts = kernel_quote_parts(a)
    for k, part in ipairs(parts) do
      if k % 2 == 0 then
        parts[k] = '"' .. part:gsub('[$\\]', "\\%0") .. '"'
      else
        parts[k] = part:gsub("[^%w%s%-%._,:/=+@%%^~!]", "\\%0")
      end
    end
    local word = table.concat(parts)
    if quote == '"' then
      word = word:gsub('[\\$"`]', "\\%0")
    elseif quote == "'" and word:find("'", 1, true) then
      util.raise("usage", string.format("kernel argument '%s': a single quote cannot be written in a single-quoted "
        .. "/etc/default/grub value", names.shown(a)))
    end
    out[i] = word
  end
  return out
end

--- `args` as the inside of a double-quoted /etc/default/grub value
--- (GRUB_CMDLINE_LINUX="..."), which grub-mkconfig copies into grub.cfg:
--- each escaped for GRUB (a backslash before every character it would not
--- take literally), then for the shell.
---@param args string[]
---@return string
function M.default_var_value(args)
  M.check_kernel_args(args)
  return table.concat(shell_words(args, '"'), " ")
end

-- The kernel arguments of a `quote`d shell value of /etc/default/grub
-- (the inverse of shell_words).
local function shell_args(value, quote)
  if quote == '"' then value = value:gsub('\\([\\$"`])', "%1") end
  return M.split_args(value)
end

local function var_assignment(line, var)
  return line:match("^%s*" .. var .. "=([\"']?)(.-)%1%s*$")
end

-- Rewrites the words of `var=...` lines of /etc/default/grub with `edit`
-- (only the first such line when `first_only`), keeping the quoting. Returns
-- the new text and whether the variable was found.
local function edit_default_var(text, var, first_only, edit)
  local found = false
  local new = map_lines(text, function(line)
    local q, value = var_assignment(line, var)
    if not q or (first_only and found) then return line end
    found = true
    local quote = q ~= "" and q or '"'
    return var .. "=" .. quote .. table.concat(edit(split_words(value), quote), " ") .. quote
  end)
  return new, found
end

local function add_default_var(text, var, args)
  if text ~= "" and text:sub(-1) ~= "\n" then text = text .. "\n" end
  return text .. var .. '="' .. table.concat(shell_words(args, '"'), " ") .. '"\n'
end

--- Appends kernel arguments to every `linux`/`linuxefi`/`linux16` line of a
--- grub.cfg. Arguments already present on a line are not repeated.
---@param text string grub.cfg content
---@param args string[] arguments to append
---@return string new_text
---@return integer lines number of kernel lines changed
function M.append_kernel_args(text, args)
  M.check_kernel_args(args)
  return edit_kernel_lines(text, "^(%s*)(linux%w*)(%s.*)$", function(line, _, _, rest)
    local words = {}
    for _, w in ipairs(line_words(rest)) do words[#words + 1] = w.arg end
    -- Compared as GRUB reads them back: a="b" is the kernel's a=b.
    local add, seen = {}, {}
    for _, a in ipairs(args) do
      local quoted = M.quote_arg(a)
      local read = M.split_args(quoted)[1]
      if not contains(words, read) and not seen[read] then
        seen[read] = true
        add[#add + 1] = quoted
      end
    end
    if #add == 0 then return line end
    -- Trailing blanks go, unless one is escaped ("a\ ").
    local base = line:gsub("%s+$", "")
    if base:sub(-1) == "\\" then base = line end
    return base .. " " .. table.concat(add, " ")
  end)
end

--- Returns the kernel arguments of the first `linux` line, as a list
--- (unquoted: split_args).
---@param text string grub.cfg content
---@return string[]|nil
function M.first_kernel_args(text)
  for line in text:gmatch("[^\n]+") do
    local rest = line:match("^%s*linux%w*%s+%S+%s*(.*)$")
    if rest then return M.split_args(rest) end
  end
  return nil
end

--- Appends arguments to a variable of /etc/default/grub, creating the
--- assignment if missing. Quoting follows the existing line.
---@param text string /etc/default/grub content
---@param var string e.g. "GRUB_CMDLINE_LINUX_DEFAULT"
---@param args string[]
---@return string
function M.append_default_var(text, var, args)
  M.check_kernel_args(args)
  local result, found = edit_default_var(text, var, true, function(words, quote)
    for _, a in ipairs(shell_words(args, quote)) do
      if not contains(words, a) then words[#words + 1] = a end
    end
    return words
  end)
  if not found then result = add_default_var(result, var, args) end
  return result
end

-- The name of a kernel argument: "selinux" for "selinux=1", "ro" for "ro".
local function arg_name(a)
  return a:match("^([^=]*)") or a
end

-- `words` without those named in `names`, then `args`.
local function replace_named(words, names, args)
  local out = {}
  for _, w in ipairs(words) do
    if not contains(names, arg_name(w)) then out[#out + 1] = w end
  end
  for _, a in ipairs(args) do out[#out + 1] = a end
  return out
end

--- Replaces kernel arguments on every `linux`/`linuxefi`/`linux16` line of a
--- grub.cfg: arguments named in `names` (e.g. "selinux" matches "selinux=0")
--- are removed, then `args` are appended.
---@param text string grub.cfg content
---@param names string[] argument names to remove
---@param args string[] arguments to append
---@return string new_text
---@return integer lines number of kernel lines
function M.replace_kernel_args(text, names, args)
  M.check_kernel_args(args)
  return edit_kernel_lines(text, "^(%s*)(linux%w*)(%s+)(%S+)(.*)$", function(_, indent, cmd, sep, kernel, rest)
    -- The line's own words stay as written (a `$var` GRUB expands too).
    local words = {}
    for _, w in ipairs(line_words(rest)) do
      if not contains(names, arg_name(w.arg)) then words[#words + 1] = w.raw end
    end
    for _, a in ipairs(args) do words[#words + 1] = M.quote_arg(a) end
    return indent .. cmd .. sep .. kernel .. (#words > 0 and (" " .. table.concat(words, " ")) or "")
  end)
end

--- The kernel arguments of a variable of /etc/default/grub, unquoted (nil
--- if it is not set).
---@param text string
---@param var string
---@return string[]|nil
function M.default_var_words(text, var)
  local words
  for line in text:gmatch("[^\n]+") do
    local q, value = var_assignment(line, var)
    if value then words = shell_args(value, q ~= "" and q or '"') end
  end
  return words
end

--- Replaces arguments in a variable of /etc/default/grub: arguments named in
--- `names` are removed, then `args` appended; the assignment is created if
--- missing.
---@param text string
---@param var string
---@param names string[]
---@param args string[]
---@return string
function M.replace_default_var_args(text, var, names, args)
  M.check_kernel_args(args)
  local result, found = edit_default_var(text, var, false, function(words, quote)
    return replace_named(words, names, shell_words(args, quote))
  end)
  if not found and #args > 0 then result = add_default_var(result, var, args) end
  return result
end

--- The value of a kernel argument in a list (the last one wins, as in the
--- kernel); nil when absent, "" for a bare flag.
---@param args string[]
---@param name string
---@return string|nil
function M.arg_value(args, name)
  local value
  for _, a in ipairs(args) do
    if arg_name(a) == name then value = a:match("^[^=]*=(.*)$") or "" end
  end
  return value
end

--- Applies `edit` (text -> new text, number of kernel lines; e.g. a closure
--- over append_kernel_args) to each of the image's grub.cfg files, writing
--- those that changed. Raises an `error_kind` error if none has kernel lines.
---@param img imgrecipe.Image
---@param edit fun(text: string): string, integer
---@param error_kind string
---@return string[] files the grub.cfg files with kernel lines
function M.edit_configs(img, edit, error_kind)
  local changed = {}
  for _, path in ipairs(M.CONFIGS) do
    local text = img:read_file(path)
    if text then
      local new, n = edit(text)
      if n > 0 then
        if new ~= text then img:write_file(path, new) end
        changed[#changed + 1] = path
      end
    end
  end
  if #changed == 0 then
    util.raise(error_kind, "no GRUB configuration with kernel entries found (looked in "
      .. table.concat(M.CONFIGS, " and ") .. ")")
  end
  return changed
end

--- Whether a grub.cfg was generated by grub-mkconfig.
---@param text string
---@return boolean
function M.is_generated(text)
  return text:find("automatically generated by grub%-mkconfig") ~= nil
      or text:find("generated by grub2?%-mkconfig") ~= nil
end

return M
