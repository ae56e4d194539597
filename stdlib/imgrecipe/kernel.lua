--- Installed-kernel check (ALIC's lib/installedkernelcheck.go).
-- @module imgrecipe.kernel
local util = require "imgrecipe.util"

local M = {}

M.MODULES_DIR = "/lib/modules"

--- The kernel versions with a non-empty /lib/modules/<version> directory
--- (a removed kernel package can leave its directory behind, emptied).
---@param img imgrecipe.Image
---@return string[]
function M.installed(img)
  local found = {}
  for _, name in ipairs(img:list_dir(M.MODULES_DIR) or {}) do
    local entries = img:list_dir(M.MODULES_DIR .. "/" .. name)
    if entries and #entries > 0 then found[#found + 1] = name end
  end
  table.sort(found)
  return found
end

--- Fails with ALIC's "no installed kernel found" when no kernel is left.
---@param img imgrecipe.Image
---@return string[] versions
function M.check_installed(img)
  if img:list_dir(M.MODULES_DIR) == nil then
    util.raise("config", string.format("failed to read installed kernels list: %s does not exist", M.MODULES_DIR))
  end
  local found = M.installed(img)
  if #found == 0 then
    util.raise("config", string.format("no installed kernel found (%s has no non-empty kernel directory)", M.MODULES_DIR))
  end
  return found
end

return M
