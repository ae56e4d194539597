-- docs/lua-api.md cannot drift from the stdlib (issue 11 §6): every public
-- function of stdlib/imgrecipe/*.lua (module-table functions, methods of the
-- public classes) has a LuaCATS block (a description line and ---@param for
-- each parameter) and is named in docs/lua-api.md; every stdlib function the
-- page names exists; every function of the host bindings the page documents
-- is named there. Reads the source tree next to this file.
-- `source` is "@" .. the full path (short_src is cut to 60 characters)
local HERE = debug.getinfo(1, "S").source:gsub("^@", "")
local ROOT = (HERE:match("^(.*)/[^/]*$") or ".") .. "/../.."
local STDLIB = ROOT .. "/stdlib/imgrecipe"
local DOC = ROOT .. "/docs/lua-api.md"

-- How lua-api.md names an object of each public class: `img:mount(...)`.
local CLASS_PREFIX = {
  ["imgrecipe.Image"] = "img", ["imgrecipe.Disk"] = "d", ["imgrecipe.DiskRoot"] = "root",
  ["imgrecipe.Context"] = "ctx", ["imgrecipe.T"] = "t", ["imgrecipe.AlicJob"] = "job",
}
-- A DiskRoot method with an Image method's name is documented as that one.
local CLASS_FALLBACK = { ["imgrecipe.DiskRoot"] = "imgrecipe.Image" }

-- Host bindings whose functions lua-api.md documents one by one.
local HOST_DOCUMENTED = { "config", "storage", "cosi", "verity", "squashfs", "iso", "recipe" }

-- Words that look like calls in inline code but are not API names.
local NOT_NAMES = { ["function"] = true, ["require"] = true, ["if"] = true, ["and"] = true,
  ["or"] = true, ["not"] = true, ["return"] = true, ["local"] = true }

local function read(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("*a")
  f:close()
  return text
end

local function lines_of(text)
  local out = {}
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

local function stdlib_files()
  local p = assert(io.popen("ls '" .. STDLIB .. "'"))
  local names = {}
  for name in p:lines() do
    if name:match("%.lua$") then names[#names + 1] = name end
  end
  p:close()
  table.sort(names)
  return names
end

local function params_of(list)
  local out = {}
  for p in list:gmatch("[^,%s]+") do out[#out + 1] = p end
  return out
end

-- The LuaCATS block right above line i: its description lines and @params.
local function annotation(lines, i)
  local desc, params = 0, {}
  local j = i - 1
  while j >= 1 and lines[j]:match("^%s*%-%-%-") do
    local l = lines[j]
    local p = l:match("^%s*%-%-%-@param%s+([%w_%.]+)")
    if p then params[(p:gsub("%?$", ""))] = true
    elseif not l:match("^%s*%-%-%-@") and l:match("^%s*%-%-%-%s*%S") then desc = desc + 1 end
    j = j - 1
  end
  return desc, params
end

-- Every public function: { key = "imgrecipe.disk.create" or "imgrecipe.Disk:format",
-- module=, name=, class=, file=, line=, params=, alias= }.
local function collect_stdlib()
  local fns, modules, classes = {}, {}, {}
  for _, file in ipairs(stdlib_files()) do
    local base = file:gsub("%.lua$", "")
    local mod = base == "init" and "imgrecipe" or ("imgrecipe." .. base)
    local rel = "stdlib/imgrecipe/" .. file
    local lines = lines_of(read(STDLIB .. "/" .. file))
    local ret
    for _, l in ipairs(lines) do ret = l:match("^return%s+([%a_][%w_]*)%s*$") or ret end
    local class_of = {} -- local table name -> class name
    for i, l in ipairs(lines) do
      local cls = l:match("^%-%-%-@class%s+([%w_%.]+)")
      if cls then
        local j = i + 1
        while lines[j] and lines[j]:match("^%-%-%-") do j = j + 1 end
        local var = lines[j] and lines[j]:match("^local%s+([%a_][%w_]*)%s*=%s*{}")
        if var then class_of[var] = cls; classes[cls] = mod end
      end
    end
    modules[mod] = { file = rel, ret = ret }
    if not ret then
      fns["!" .. mod] = { problem = string.format("%s: no `return M` line: the checker cannot find the module table "
        .. "(tests/lua/test_lua_api_docs.lua expects `local M = {}` ... `return M`)", rel) }
    end
    for var, cls in pairs(class_of) do
      if not CLASS_PREFIX[cls] then
        for _, l in ipairs(lines) do
          if l:match("^function%s+" .. var .. ":[%a][%w_]*%s*%(") then
            fns["!" .. cls] = { problem = string.format("%s (%s): a class with public methods: add [\"%s\"] = \"<name>\" "
              .. "to CLASS_PREFIX in tests/lua/test_lua_api_docs.lua (how docs/lua-api.md names its objects, "
              .. "as `img:` for imgrecipe.Image)", cls, rel, cls) }
            break
          end
        end
      end
    end
    local function add(key, t)
      t.file, t.module = rel, mod
      t.def = lines[t.line]:gsub("%s*$", ""):sub(1, 60)
      fns[key] = t
    end
    for i, l in ipairs(lines) do
      local tbl, sep, name, args = l:match("^function%s+([%a_][%w_]*)([%.:])([%a_][%w_]*)%s*%(([^)]*)%)")
      if not tbl then
        tbl, name, args = l:match("^([%a_][%w_]*)%.([%a_][%w_]*)%s*=%s*function%s*%(([^)]*)%)")
        sep = "."
      end
      if tbl and not name:match("^_") then
        local params = params_of(args)
        if tbl == ret and sep == "." then
          add(mod .. "." .. name, { name = name, line = i, params = params })
        elseif class_of[tbl] then
          add(class_of[tbl] .. ":" .. name, { name = name, class = class_of[tbl], line = i, params = params })
        end
      end
      -- `M.x = other.y`: an alias, annotated where it is defined
      local an, other = l:match("^" .. (ret or "M") .. "%.([%a_][%w_]*)%s*=%s*([%a_][%w_]*%.[%a_][%w_]*)%s*$")
      if an and not an:match("^_") and not fns[mod .. "." .. an] then
        add(mod .. "." .. an, { name = an, line = i, params = {}, alias = other })
      end
      -- `M.x = name` of a local function: annotated at its definition
      local ln_, lname = l:match("^" .. (ret or "M") .. "%.([%a_][%w_]*)%s*=%s*([%a_][%w_]*)%s*$")
      if ln_ and not ln_:match("^_") and not fns[mod .. "." .. ln_] then
        for j, d in ipairs(lines) do
          local args_ = d:match("^local%s+function%s+" .. lname .. "%s*%(([^)]*)%)")
          if args_ then add(mod .. "." .. ln_, { name = ln_, line = j, params = params_of(args_) }) end
        end
      end
      fns.__lines = fns.__lines or {}
      fns.__lines[rel] = lines
    end
  end
  local lines_by_file = fns.__lines
  fns.__lines = nil
  -- keep aliases that really are functions (not values such as api_version)
  for key, f in pairs(fns) do
    if f.alias and not f.problem then
      local ok, m = pcall(require, f.module)
      if not ok or type(m[f.name]) ~= "function" then fns[key] = nil end
    end
  end
  return fns, modules, classes, lines_by_file
end

local function short(mod) return mod:match("([%w_]+)$") end

-- References in docs/lua-api.md: inline code spans (and code blocks, where
-- only qualified names count), each resolved to a module or a class. A bare
-- `name(` refers to the module last named in the same paragraph or table row.
local function collect_doc(modules, classes)
  local refs = {} -- list of {kind="module"|"class", owner=, name=, line=}
  local module_by_short = {}
  for mod in pairs(modules) do module_by_short[short(mod)] = mod end
  local class_by_prefix = {}
  for cls, prefix in pairs(CLASS_PREFIX) do class_by_prefix[prefix] = cls end
  local host_words = {} -- host module -> set of words named in its context
  local host_by_short = {}
  for _, h in ipairs(HOST_DOCUMENTED) do
    if not module_by_short[h] then host_by_short[h] = "imgrecipe.host." .. h end
  end
  local lines = lines_of(read(DOC))
  local context, in_code = nil, false
  local function note(owner, name, ln, bare)
    if owner:match("^imgrecipe%.host%.") then
      host_words[owner] = host_words[owner] or {}
      host_words[owner][name] = true
    else
      refs[#refs + 1] = { owner = owner, name = name, line = ln, bare = bare }
    end
  end
  local function scan(span, ln, code)
    -- a module named alone sets the context
    local named = span:match("^require%s*%(?%s*[\"'](imgrecipe[%w_%.]*)[\"']%s*%)?$")
      or span:match("^(imgrecipe[%w_%.]*)$")
    if named then
      if named:match("^imgrecipe%.host%.") or modules[named] then context = named end
      return
    end
    if host_by_short[span] then context = host_by_short[span]; return end
    local pos = 1
    while pos <= #span do
      local s, e, q, sep, name = span:find("([%a_][%w_%.]*)([%.:])([%a_][%w_]*)%s*[%({]", pos)
      local bs, be, bare = span:find("%f[%w_%./:]([%a_][%w_/]*)%s*[%({]", pos)
      if bs and (not s or bs < s) then
        -- a bare name (or a/b/c) in the current context
        if not code and context then
          for n in bare:gmatch("[%a_][%w_]*") do
            if not NOT_NAMES[n] then note(context, n, ln, true) end
          end
        end
        pos = be + 1
      elseif s then
        local mod
        if sep == ":" and class_by_prefix[q] then
          note(class_by_prefix[q], name, ln)
        elseif sep == "." then
          local full = q:match("^imgrecipe") and q or nil
          if full and (modules[full] or full:match("^imgrecipe%.host%.")) then mod = full
          elseif module_by_short[q] then mod = module_by_short[q]
          elseif host_by_short[q] then mod = host_by_short[q]
          elseif context and context:match("^imgrecipe%.host%.") and short(context) == q then mod = context
          end
          if mod then note(mod, name, ln); context = mod end
        end
        pos = e + 1
      else
        break
      end
    end
    -- `require("imgrecipe.x").f(`
    for m, n in span:gmatch("require%s*%(?%s*[\"'](imgrecipe[%w_%.]*)[\"']%s*%)?%s*%.([%a_][%w_]*)%s*%(") do
      if modules[m] then note(m, n, ln); context = m end
    end
    -- host: a name without parentheses in the host context also counts
    if not code and context and context:match("^imgrecipe%.host%.") and span:match("^[%a_][%w_]*$") then
      note(context, span, ln, true)
    end
  end
  -- paragraphs (a table row is one): inline code may span lines
  local para, para_line = {}, nil
  local function flush()
    if #para > 0 then
      local text = table.concat(para, "\n")
      context = nil
      local pos = 1
      while true do
        local s, e, span = text:find("`([^`]+)`", pos)
        if not s then break end
        local _, nl = text:sub(1, s):gsub("\n", "")
        local before = text:sub(1, s - 1)
        local _, opened = before:gsub("%(", "")
        local _, closed = before:gsub("%)", "")
        -- a module named inside parentheses ("(used by `imgrecipe.disk`)") is an aside
        if not (opened > closed and (span:match("^imgrecipe[%w_%.]*$"))) then
          scan(span:gsub("\n", " "), para_line + nl, false)
        end
        pos = e + 1
      end
    end
    para, para_line = {}, nil
  end
  for ln, l in ipairs(lines) do
    if l:match("^```") then
      flush()
      in_code = not in_code
      context = nil
    elseif in_code then
      scan((l:gsub("%-%-.*$", "")), ln, true)
    elseif l:match("^%s*$") or l:match("^#") or l:match("^|") then
      flush()
      if l:match("^|") then para, para_line = { l }, ln; flush() end
    else
      para_line = para_line or ln
      para[#para + 1] = l
    end
  end
  flush()
  return refs, host_words
end

local function signature(f)
  local sep = f.class and ":" or "."
  local owner = f.class and CLASS_PREFIX[f.class] or short(f.module)
  return owner .. sep .. f.name .. "(" .. table.concat(f.params, ", ") .. ")"
end

local function problems()
  local fns, modules, classes, lines_by_file = collect_stdlib()
  local refs, host_words = collect_doc(modules, classes)
  local out = {}
  -- documented: set of keys
  local documented = {}
  for _, r in ipairs(refs) do
    if classes[r.owner] then documented[r.owner .. ":" .. r.name] = r
    else documented[r.owner .. "." .. r.name] = r end
  end
  local keys = {}
  for k in pairs(fns) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, key in ipairs(keys) do
    local f = fns[key]
    if f.problem then
      out[#out + 1] = f.problem
    elseif not f.class or CLASS_PREFIX[f.class] then
      local where = string.format("%s:%d", f.file, f.line)
      local desc, params = annotation(lines_by_file[f.file], f.line)
      if desc == 0 then
        out[#out + 1] = string.format("%s (%s): no LuaCATS description: add a `--- <what it does>` line right above `%s`",
          key, where, f.def)
      end
      if not f.alias then
        for _, p in ipairs(f.params) do
          if p ~= "self" and not params[p] then
            out[#out + 1] = string.format("%s (%s): add `---@param %s <type> <what it is>` to the block above `%s`",
              key, where, p, f.def)
          end
        end
      end
      local fallback = f.class and CLASS_FALLBACK[f.class]
      if not documented[key] and not (fallback and fns[fallback .. ":" .. f.name]) then
        out[#out + 1] = string.format("%s (%s): not in docs/lua-api.md: add a row \"| `%s` | <what it does> |\" "
          .. "to the function table of the %s section (start one if there is none)", key, where, signature(f), f.class or f.module)
      end
    end
  end
  -- names on the page that are not functions (any more)
  local seen = {}
  for _, r in ipairs(refs) do
    local key = classes[r.owner] and (r.owner .. ":" .. r.name) or (r.owner .. "." .. r.name)
    local exists = fns[key] or (CLASS_FALLBACK[r.owner] and fns[CLASS_FALLBACK[r.owner] .. ":" .. r.name])
    if not exists and not seen[key] then
      seen[key] = true
      out[#out + 1] = string.format("docs/lua-api.md:%d names %s, which is not a public function of %s: remove it or fix the name",
        r.line, key, r.owner)
    end
  end
  -- host bindings the page documents: each function named in its paragraph
  for _, h in ipairs(HOST_DOCUMENTED) do
    local mod = "imgrecipe.host." .. h
    local ok, t = pcall(require, mod)
    if ok and type(t) == "table" then
      local names = {}
      for k, v in pairs(t) do
        if type(v) == "function" and not k:match("^_") then names[#names + 1] = k end
      end
      table.sort(names)
      for _, n in ipairs(names) do
        if not (host_words[mod] and host_words[mod][n]) then
          out[#out + 1] = string.format("%s.%s: not in docs/lua-api.md: name `%s(...)` in the paragraph about `%s`",
            mod, n, n, mod)
        end
      end
    end
  end
  return out
end

return {
  test_lua_api_documented = function(t)
    local out = problems()
    t:ok(#out == 0, "docs/lua-api.md or LuaCATS annotations out of date:\n  " .. table.concat(out, "\n  "))
  end,
  -- the checker sees the stdlib at all (a wrong ROOT would pass vacuously)
  test_checker_finds_functions = function(t)
    local fns = collect_stdlib()
    t:ok(fns["imgrecipe.image.open"] or fns["imgrecipe.disk.create"], "no stdlib function found under " .. STDLIB)
    t:ok(fns["imgrecipe.Image:mount"], "Image:mount not found")
  end,
}
