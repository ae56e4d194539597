--- Kernel modules, as ALIC's os.modules: the three files ALIC owns,
--- /etc/modules-load.d/modules-load.conf (load at boot),
--- /etc/modprobe.d/modules-disabled.conf (`blacklist <name>`) and
--- /etc/modprobe.d/module-options.conf (`options <name> k=v ...`), edited in
--- place so lines written by others are kept. The text functions are pure.
-- @module imgrecipe.kmodules
local log = require "imgrecipe.log"
local util = require "imgrecipe.util"

local M = {}

M.LOAD_FILE = "/etc/modules-load.d/modules-load.conf"
M.DISABLED_FILE = "/etc/modprobe.d/modules-disabled.conf"
M.OPTIONS_FILE = "/etc/modprobe.d/module-options.conf"

local function lines(text)
  local out = {}
  for line in (text or ""):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

local function words(line)
  local out = {}
  for w in line:gmatch("%S+") do out[#out + 1] = w end
  return out
end

local function with_newline(text)
  if text == "" or text:sub(-1) == "\n" then return text end
  return text .. "\n"
end

local function blacklists(line, name)
  local w = words(line)
  return w[1] == "blacklist" and w[2] == name and #w == 2
end

--- Whether `text` (modules-disabled.conf) blacklists `name`.
---@param text string|nil
---@param name string
---@return boolean
function M.is_disabled(text, name)
  for _, line in ipairs(lines(text)) do
    if blacklists(line, name) then return true end
  end
  return false
end

--- `text` without its `blacklist <name>` lines (nil stays nil).
---@param text string|nil
---@param name string
---@return string|nil
function M.without_blacklist(text, name)
  if text == nil or not M.is_disabled(text, name) then return text end
  local out = {}
  for _, line in ipairs(lines(text)) do
    if not blacklists(line, name) then out[#out + 1] = line .. "\n" end
  end
  return table.concat(out)
end

--- `text` with one line appended per item of `entries` not already there.
---@param text string|nil
---@param entries string[] whole lines, e.g. "blacklist nouveau" or "br_netfilter"
---@return string
function M.with_lines(text, entries)
  local present = {}
  for _, line in ipairs(lines(text)) do present[line:match("^%s*(.-)%s*$")] = true end
  local out = with_newline(text or "")
  for _, e in ipairs(entries) do
    if not present[e] then
      out = out .. e .. "\n"
      present[e] = true
    end
  end
  return out
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

--- `text` (module-options.conf) with the options of each module set: an
--- existing `options <name> ...` line gets the keys replaced or appended,
--- other lines are kept, modules without a line get one. Keys are written
--- in sorted order.
---@param text string|nil
---@param updates {name: string, options: table<string,string>}[]
---@return string
function M.with_options(text, updates)
  local by_name, seen = {}, {}
  for _, u in ipairs(updates) do by_name[u.name] = u.options end
  local out = {}
  for _, line in ipairs(lines(text)) do
    local w = words(line)
    local opts = w[1] == "options" and w[2] and by_name[w[2]]
    if opts then
      seen[w[2]] = true
      local parts, done = { "options", w[2] }, {}
      for i = 3, #w do
        local k = w[i]:match("^([^=]+)=")
        if k and opts[k] then
          parts[#parts + 1] = k .. "=" .. opts[k]
          done[k] = true
        elseif k then
          parts[#parts + 1] = w[i]
        end
      end
      for _, k in ipairs(sorted_keys(opts)) do
        if not done[k] then parts[#parts + 1] = k .. "=" .. opts[k] end
      end
      line = table.concat(parts, " ")
    end
    out[#out + 1] = line .. "\n"
  end
  for _, u in ipairs(updates) do
    if not seen[u.name] then
      local parts = { "options", u.name }
      for _, k in ipairs(sorted_keys(u.options)) do parts[#parts + 1] = k .. "=" .. u.options[k] end
      out[#out + 1] = table.concat(parts, " ") .. "\n"
      seen[u.name] = true
    end
  end
  return table.concat(out)
end

---@class imgrecipe.ModuleSpec
---@field name string
---@field load_mode? string always | auto | disable | inherit (default)
---@field options? table<string,string>

--- Applies a list of module settings, as ALIC: `always` loads at boot and
--- unblacklists, `auto` only unblacklists, `disable` blacklists, `inherit`
--- keeps the image's state; options are written for every mode but
--- `disable`, and options for a module that ends up disabled are an error.
---@param img imgrecipe.Image
---@param list imgrecipe.ModuleSpec[]
function M.configure(img, list)
  util.validate("list", list, "table")
  local disabled = img:read_file(M.DISABLED_FILE)
  local disabled_before = disabled
  local load, disable, updates = {}, {}, {}
  for i, m in ipairs(list) do
    util.validate("name", m.name, "string")
    local mode = m.load_mode or "inherit"
    local has_options = m.options ~= nil and next(m.options) ~= nil
    local function refuse_options()
      util.raise("config", string.format("cannot add options for disabled module (%s) at index %d:\n"
        .. "specify auto or always as loadMode to override setting in base image", m.name, i - 1))
    end
    if mode == "always" or mode == "auto" then
      if M.is_disabled(disabled, m.name) then log.info("module '%s': removed from the disabled list", m.name) end
      disabled = M.without_blacklist(disabled, m.name)
      if mode == "always" then load[#load + 1] = m.name end
      if has_options then updates[#updates + 1] = { name = m.name, options = m.options } end
    elseif mode == "disable" then
      if has_options then refuse_options() end
      disable[#disable + 1] = "blacklist " .. m.name
    elseif mode == "inherit" or mode == "" then
      if has_options then
        if M.is_disabled(disabled, m.name) then refuse_options() end
        updates[#updates + 1] = { name = m.name, options = m.options }
      end
    else
      util.raise("usage", string.format("module '%s': unknown load mode '%s'", m.name, tostring(mode)))
    end
  end

  if #load > 0 then
    local text = img:read_file(M.LOAD_FILE)
    local new = M.with_lines(text, load)
    if new ~= text then img:write_file(M.LOAD_FILE, new) end
    log.info("load at boot: %s", table.concat(load, ", "))
  end
  if #disable > 0 then disabled = M.with_lines(disabled, disable) end
  if disabled ~= disabled_before then img:write_file(M.DISABLED_FILE, disabled) end
  if #disable > 0 then log.info("disabled: %s", (table.concat(disable, ", "):gsub("blacklist ", ""))) end
  if #updates > 0 then
    img:write_file(M.OPTIONS_FILE, M.with_options(img:read_file(M.OPTIONS_FILE), updates))
    for _, u in ipairs(updates) do log.info("options for module '%s' set", u.name) end
  end
end

return M
