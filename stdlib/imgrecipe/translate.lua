--- `imgrecipe translate`: prints the plan of a YAML config
--- (imgrecipe.alic.plan, what `imgrecipe build` runs) as a readable Lua
--- recipe, one call per config item, each under a comment naming the YAML
--- key and file:line it came from.
-- @module imgrecipe.translate
local config = require "imgrecipe.host.config"
local alic = require "imgrecipe.alic"
local log = require "imgrecipe.log"

local M = {}

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or repeat return then true
  until while]]):gmatch("%a+") do keywords[w] = true end

local function is_ident(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil and not keywords[k]
end

-- A string literal: a long bracket for multi-line text (readable file
-- contents and scripts), else a quoted string.
local function quote(s)
  if s:find("\n", 1, true) and not s:find("[%z\1-\8\11-\31\127]") then
    local eq = ""
    while (s .. "]"):find("]" .. eq .. "]", 1, true) do eq = eq .. "=" end
    -- The newline after the opening bracket is skipped by Lua.
    return "[" .. eq .. "[\n" .. s .. "]" .. eq .. "]"
  end
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local function is_array(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

-- Map keys: what a reader looks for first (name; input, output, format),
-- then alphabetical.
local FIRST = { name = 1, input = 2, output = 3, format = 4 }
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local fa, fb = FIRST[a] or 99, FIRST[b] or 99
    if fa ~= fb then return fa < fb end
    return tostring(a) < tostring(b)
  end)
  return keys
end

local WIDTH = 100

--- A Lua literal of `v` (nil, booleans, numbers, strings, tables of them),
--- indented by `indent` spaces when it spans several lines; `lead`: the
--- columns already used on its first line.
---@param v any
---@param indent? integer
---@param lead? integer
---@return string
function M.literal(v, indent, lead)
  indent = indent or 0
  local t = type(v)
  if t == "nil" or t == "boolean" then return tostring(v) end
  if t == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if t == "string" then return quote(v) end
  if t ~= "table" then error("cannot write a " .. t .. " as a Lua literal") end
  if next(v) == nil then return "{}" end
  local items = {}
  if is_array(v) then
    for i = 1, #v do items[i] = M.literal(v[i], indent + 2) end
  else
    for _, k in ipairs(sorted_keys(v)) do
      local key = is_ident(k) and k or ("[" .. M.literal(k) .. "]")
      items[#items + 1] = key .. " = " .. M.literal(v[k], indent + 2)
    end
  end
  local one = "{ " .. table.concat(items, ", ") .. " }"
  if not one:find("\n", 1, true) and #one + (lead or indent) <= WIDTH then return one end
  local pad = string.rep(" ", indent + 2)
  return "{\n" .. pad .. table.concat(items, ",\n" .. pad) .. ",\n" .. string.rep(" ", indent) .. "}"
end

-- The argument list of a call, trailing nils dropped.
local function arglist(c, indent)
  local n = c.n
  while n > 0 and c.args[n] == nil do n = n - 1 end
  local parts = {}
  for i = 1, n do parts[i] = M.literal(c.args[i], indent) end
  return table.concat(parts, ", ")
end

local function render_call(c, indent)
  local pad = string.rep(" ", indent)
  local lines = {}
  if c.from then lines[#lines + 1] = pad .. "-- " .. c.from end
  local head
  if c.on == "module" then
    local args = arglist(c, indent)
    head = string.format("%s.%s(img%s)", c.module, c.fn, args ~= "" and (", " .. args) or "")
  else
    head = string.format("%s:%s(%s)", c.on, c.fn, arglist(c, indent))
  end
  lines[#lines + 1] = pad .. head
  return table.concat(lines, "\n")
end

local function render_entry(e, indent)
  local pad = string.rep(" ", indent)
  local out = {}
  if e.from then out[#out + 1] = pad .. "-- " .. e.from end
  if not e.step then
    for _, c in ipairs(e.calls) do out[#out + 1] = render_call(c, indent) end
  else
    out[#out + 1] = string.format("%sctx:step(%s, function()", pad, M.literal(e.step))
    for _, c in ipairs(e.calls) do out[#out + 1] = render_call(c, indent + 2) end
    out[#out + 1] = pad .. "end)"
  end
  return table.concat(out, "\n")
end

local function param(default, description)
  return { default = default, description = description }
end

--- The recipe text translating the config at `path` (with its baseConfigs).
---@param path string
---@return string
function M.render(path)
  local cfg = config.load(path)
  for _, w in ipairs(cfg.warnings or {}) do log.warn("%s", w) end
  cfg.chain = cfg.chain or { cfg }
  alic.check_supported(cfg)
  local plan = alic.plan(cfg)
  local file = cfg.path:match("[^/]*$")
  local name = file:gsub("%.[^.]*$", "")
  local L = {}
  local function add(s) L[#L + 1] = s end

  add(string.format("-- Translated by `imgrecipe translate` from %s:", file))
  add("--   " .. cfg.path)
  for i = 1, #cfg.chain - 1 do add("-- with its base config " .. cfg.chain[i].path) end
  add("-- The same calls, in the same order, as `imgrecipe build` makes for that config")
  add("-- (ALIC's order of steps); each comment names the YAML key of the lines below it.")
  add("-- Run it with: imgrecipe run THIS.lua --param input=IN --param output=OUT --param format=FMT")
  add('local alic = require "imgrecipe.alic"')
  local uses = {}
  for _, e in ipairs(plan.steps) do
    for _, c in ipairs(e.calls) do if c.on == "module" then uses[c.module] = true end end
  end
  for _, m in ipairs(sorted_keys(uses)) do add(string.format('local %s = require "imgrecipe.%s"', m, m)) end
  add("")
  -- The history entry is the config itself: a named table, not inline.
  for _, e in ipairs(plan.steps) do
    for _, c in ipairs(e.calls) do
      if c.fn == "append_history" then
        add("-- The config as the image history records it (os.imageHistory); file hashes are taken at run time.")
        add("local CONFIG = " .. M.literal(c.args[1]))
        add("")
        c.literal_args = { "CONFIG", M.literal(c.args[2]) }
      end
    end
  end
  local params = {
    input = param(plan.input, "input image" .. (plan.input and " (config: input.image.path)" or "")),
    output = param(plan.output, "output path" .. (plan.output and " (config: output.image.path)" or "")),
    format = param(plan.format, "output format: raw, qcow2, vhd, vhd-fixed, vhdx, cosi, baremetal-image, iso, "
      .. "pxe-dir, pxe-tar" .. (plan.format and " (config: output.image.format)" or "")),
    package_manager = param(nil, "tdnf, dnf or apt-get (default: detected)"),
    rpm_sources = { list = true, description = "tdnf/dnf sources: RPM directories or .repo files" },
    deb_sources = { list = true, description = "apt-get sources: .deb directories or .list/.sources files" },
    disable_base_image_rpm_repos = param(nil, "\"true\": do not use the image's /etc/yum.repos.d"),
    disable_base_image_deb_repos = param(nil, "\"true\": do not use the image's apt sources"),
    cosi_compression_level = param(nil, "zstd level 1..22 of cosi and baremetal-image outputs"),
  }
  for _, k in ipairs({ "input", "output", "format" }) do
    if params[k].default == nil then params[k].required = true end
  end
  add("return {")
  add("  name = " .. M.literal(name) .. ",")
  add("  description = " .. M.literal("Translated from " .. file) .. ",")
  add("  api = 1,")
  add("  params = " .. M.literal(params, 2) .. ",")
  add("  run = function(ctx)")
  local job = { input = "\0input", output = "\0output", format = "\0format" }
  for k, v in pairs(plan.job) do job[k] = v end
  local jobtext = M.literal(job, 4, #"    local job = alic.job(ctx, "):gsub('"\\0(%a+)"', "ctx.params.%1")
  if #plan.job_from > 0 then add("    -- " .. table.concat(plan.job_from, ", ")) end
  add("    local job = alic.job(ctx, " .. jobtext .. ")")
  local indent = 4
  if plan.os_changes then
    add("    local img = job:open()")
  else
    add("    -- No OS change: an ISO input is only re-packaged (job:open returns nil).")
    add("    local img = job:open(false)")
    add("    if img then")
    indent = 6
  end
  for _, e in ipairs(plan.steps) do
    local text = render_entry(e, indent)
    for _, c in ipairs(e.calls) do
      if c.literal_args then
        local args = table.concat(c.literal_args, ", ")
        text = text:gsub("job:append_history%b()", function() return "job:append_history(" .. args .. ")" end)
      end
    end
    add(text)
  end
  if not plan.os_changes then add("    end") end
  add("    job:finish()")
  add("  end,")
  add("}")
  return table.concat(L, "\n") .. "\n"
end

return M
