--- A small JSON encoder, formatted like Go's json.MarshalIndent(v, "", " ")
--- so files ALIC and imgrecipe write look alike.
-- @module imgrecipe.json
local util = require "imgrecipe.util"

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
    if type(k) ~= "string" then util.raise("usage", "json: object keys must be strings, got " .. type(k)) end
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
    if v ~= v or v == math.huge or v == -math.huge then util.raise("usage", "json: cannot encode " .. tostring(v)) end
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
    util.raise("usage", "json: cannot encode a " .. t)
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

-- Decoding: a recursive descent over the text; errors name the byte offset.
local function decode_error(pos, what)
  require("imgrecipe.util").raise("config", string.format("JSON: %s at byte %d", what, pos))
end

local function skip(s, pos)
  return s:find("[^ \t\r\n]", pos) or #s + 1
end

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
    0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local UNESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local decode_value

local function decode_string(s, pos)
  local out, i = {}, pos + 1
  while true do
    local c = s:sub(i, i)
    if c == "" then decode_error(pos, "unterminated string") end
    if c == '"' then return table.concat(out), i + 1 end
    if c == "\\" then
      local e = s:sub(i + 1, i + 1)
      if e == "u" then
        local hex = s:sub(i + 2, i + 5)
        if not hex:match("^%x%x%x%x$") then decode_error(i, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        i = i + 6
        if cp >= 0xD800 and cp < 0xDC00 and s:sub(i, i + 1) == "\\u" then
          local lo = tonumber(s:sub(i + 2, i + 5), 16)
          if lo and lo >= 0xDC00 and lo < 0xE000 then
            cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
            i = i + 6
          end
        end
        out[#out + 1] = utf8_char(cp)
      elseif UNESCAPES[e] then
        out[#out + 1] = UNESCAPES[e]
        i = i + 2
      else
        decode_error(i, "bad escape")
      end
    else
      local j = s:find('["\\]', i) or #s + 1
      out[#out + 1] = s:sub(i, j - 1)
      i = j
    end
  end
end

decode_value = function(s, pos)
  pos = skip(s, pos)
  local c = s:sub(pos, pos)
  if c == "{" then
    local obj = {}
    pos = skip(s, pos + 1)
    if s:sub(pos, pos) == "}" then return obj, pos + 1 end
    while true do
      if s:sub(pos, pos) ~= '"' then decode_error(pos, "expected a string key") end
      local k
      k, pos = decode_string(s, pos)
      pos = skip(s, pos)
      if s:sub(pos, pos) ~= ":" then decode_error(pos, "expected ':'") end
      obj[k], pos = decode_value(s, pos + 1)
      pos = skip(s, pos)
      local d = s:sub(pos, pos)
      if d == "}" then return obj, pos + 1 end
      if d ~= "," then decode_error(pos, "expected ',' or '}'") end
      pos = skip(s, pos + 1)
    end
  elseif c == "[" then
    local arr = {}
    pos = skip(s, pos + 1)
    if s:sub(pos, pos) == "]" then return arr, pos + 1 end
    while true do
      arr[#arr + 1], pos = decode_value(s, pos)
      pos = skip(s, pos)
      local d = s:sub(pos, pos)
      if d == "]" then return arr, pos + 1 end
      if d ~= "," then decode_error(pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == '"' then
    return decode_string(s, pos)
  elseif s:sub(pos, pos + 3) == "true" then
    return true, pos + 4
  elseif s:sub(pos, pos + 4) == "false" then
    return false, pos + 5
  elseif s:sub(pos, pos + 3) == "null" then
    return nil, pos + 4
  end
  local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if num and num ~= "" and tonumber(num) then return tonumber(num), pos + #num end
  decode_error(pos, "unexpected character")
end

--- Parses a JSON text (objects become tables, null becomes nil). Lines
--- starting with '#' before it are skipped (a YAML comment heading a JSON
--- document, as the LiveOS saved-configs file has). Errors are `config` errors.
---@param text string
---@return any
function M.decode(text)
  local pos = 1
  while true do
    pos = skip(text, pos)
    if text:sub(pos, pos) ~= "#" then break end
    pos = (text:find("\n", pos, true) or #text) + 1
  end
  local v
  v, pos = decode_value(text, pos)
  if skip(text, pos) <= #text then decode_error(skip(text, pos), "trailing text") end
  return v
end

return M
