--- /etc/os-release of an image: identification and the distribution family
--- (which decides GRUB paths, templates and SELinux defaults).
-- @module imgrecipe.osrelease
local M = {}

--- Parses os-release text into a table of its variables (quotes removed).
---@param text string
---@return table<string,string>
function M.parse(text)
  local vars = {}
  for line in text:gmatch("[^\n]+") do
    local k, v = line:match("^%s*([%w_]+)=(.*)$")
    if k then
      v = v:gsub("%s+$", "")
      local q = v:sub(1, 1)
      if (q == '"' or q == "'") and v:sub(-1) == q and #v >= 2 then
        v = v:sub(2, -2)
        if q == '"' then v = v:gsub('\\(["$`\\])', "%1") end
      end
      vars[k] = v
    end
  end
  return vars
end

--- The image's os-release variables ({} when it has none).
---@param img imgrecipe.Image
---@return table<string,string>
function M.read(img)
  local text = img:read_file("/etc/os-release") or img:read_file("/usr/lib/os-release")
  return text and M.parse(text) or {}
end

--- "debian" for Debian, Ubuntu and their derivatives, else "rpm" (Azure
--- Linux, Fedora and other RPM-based distributions).
---@param vars table<string,string> os-release variables
---@return string
function M.family(vars)
  local ids = " " .. (vars.ID or "") .. " " .. (vars.ID_LIKE or "") .. " "
  if ids:find("[ ]debian[ ]") or ids:find("[ ]ubuntu[ ]") then return "debian" end
  return "rpm"
end

return M
