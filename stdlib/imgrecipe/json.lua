--- A small JSON encoder, formatted like Go's json.MarshalIndent(v, "", " ")
--- so files ALIC and imgrecipe write look alike.
-- @module imgrecipe.json
local M = {}

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function quote(s)
  -- Go also escapes <, > and & (HTML-safe output) and U+2028/U+2029.
  s = s:gsub('[%c"\\<>&]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end)
  s = s:gsub("\226\128\168", "\\u2028"):gsub("\226\128\169", "\\u2029")
  return '"' .. s .. '"'
end

local function is_array(t)
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then return false end
    n = n + 1
  end
  return n == #t
end

local function is_empty(v)
  return v == nil or (type(v) == "table" and next(v) == nil) or v == ""
end

-- Keys of an object: those listed in its metatable's `__jsonorder` first,
-- in that order, then the others sorted.
local function keys_of(t)
  local order = (getmetatable(t) or {}).__jsonorder or {}
  local seen, keys = {}, {}
  for _, k in ipairs(order) do
    if t[k] ~= nil then keys[#keys + 1] = k; seen[k] = true end
  end
  local rest = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("json: object keys must be strings, got " .. type(k), 0) end
    if not seen[k] then rest[#rest + 1] = k end
  end
  table.sort(rest)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  return keys
end

local function encode(v, indent, out)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = quote(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("json: cannot encode " .. tostring(v), 0) end
    out[#out + 1] = (v % 1 == 0 and math.abs(v) < 2 ^ 53) and string.format("%d", v) or string.format("%.17g", v)
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "nil" then
    out[#out + 1] = "null"
  elseif t == "table" then
    local inner = indent .. " "
    if next(v) == nil then
      out[#out + 1] = is_array(v) and getmetatable(v) == nil and "[]" or "{}"
    elseif is_array(v) then
      out[#out + 1] = "[\n"
      for i, item in ipairs(v) do
        out[#out + 1] = inner
        encode(item, inner, out)
        out[#out + 1] = i < #v and ",\n" or "\n"
      end
      out[#out + 1] = indent .. "]"
    else
      local keys = {}
      -- Empty values are left out, like Go's `omitempty` on ALIC's config.
      for _, k in ipairs(keys_of(v)) do
        if not is_empty(v[k]) then keys[#keys + 1] = k end
      end
      if #keys == 0 then
        out[#out + 1] = "{}"
        return
      end
      out[#out + 1] = "{\n"
      for i, k in ipairs(keys) do
        out[#out + 1] = inner .. quote(k) .. ": "
        encode(v[k], inner, out)
        out[#out + 1] = i < #keys and ",\n" or "\n"
      end
      out[#out + 1] = indent .. "}"
    end
  else
    error("json: cannot encode a " .. t, 0)
  end
end

--- Encodes a value. Tables with only keys 1..n are arrays; others objects
--- with sorted keys (or the order in their metatable's `__jsonorder`).
--- Empty strings and tables inside objects are omitted.
---@param value any
---@param indent? string prefix of every line after the first (default "")
---@return string
function M.encode(value, indent)
  local out = {}
  encode(value, indent or "", out)
  return table.concat(out)
end

--- Marks the key order of an object for `encode`.
---@param t table
---@param order string[]
---@return table t
function M.ordered(t, order)
  return setmetatable(t, { __jsonorder = order })
end

return M
