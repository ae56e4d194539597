--- /etc/resolv.conf for a whole customization, as ALIC does
--- (lib/resolvconf.go): the host's copy is put in place once and the
--- original (file, symlink or nothing) restored at the end. While it is in
--- place, single command runs leave resolv.conf alone.
-- @module imgrecipe.resolv
local sys = require "imgrecipe.host.sys"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"

local M = {}

M.PATH = "/etc/resolv.conf"
--- The link systemd-resolved itself creates (relative, as it writes it).
M.RESOLVED_STUB = "../run/systemd/resolve/stub-resolv.conf"
local HOST = "/etc/resolv.conf"

---@class imgrecipe.ResolvState
---@field type string "file" | "symlink" | "none"
---@field content? string
---@field mode? integer
---@field target? string

--- Replaces the image's resolv.conf with the host's, returning what was
--- there for `restore`.
---@param img imgrecipe.Image
---@return imgrecipe.ResolvState
function M.override(img)
  local st = img:stat(M.PATH)
  local saved
  if st == nil then
    saved = { type = "none" }
  elseif st.type == "link" then
    saved = { type = "symlink", target = img:readlink(M.PATH) }
  elseif st.type == "file" then
    saved = { type = "file", content = img:read_file(M.PATH), mode = st.mode }
  else
    util.raise("config", string.format("%s in the image is a %s, not a file or symlink", M.PATH, st.type))
  end
  if saved.type ~= "none" then img:remove(M.PATH) end
  if sys.kind(HOST) == "file" then
    img:copy_file(HOST, M.PATH)
    log.info("%s: the host's copy is in place for the customization (was: %s)", M.PATH, saved.type)
  else
    log.warn("the host has no %s: commands in the image get no DNS configuration", HOST)
  end
  return saved
end

-- ALIC asks `systemctl is-enabled`; an image without systemctl or without
-- the unit simply does not use systemd-resolved.
local function resolved_enabled(img)
  if not util.find_program(img, "systemctl") then return false end
  local r = img:run({ "systemctl", "is-enabled", "systemd-resolved.service" }, { check = false, quiet = true, network = false })
  return r.exit_code == 0
end

--- Puts back what `override` saved. If there was no resolv.conf and
--- systemd-resolved is enabled, links it to resolved's stub (useful for
--- read-only roots, where resolved cannot create it at boot).
---@param img imgrecipe.Image
---@param saved imgrecipe.ResolvState
function M.restore(img, saved)
  util.validate("saved", saved, "table")
  if img:stat(M.PATH) then img:remove(M.PATH) end
  if saved.type == "file" then
    img:write_file(M.PATH, saved.content, { mode = saved.mode })
  elseif saved.type == "symlink" then
    img:symlink(saved.target, M.PATH)
  elseif saved.type == "none" then
    if resolved_enabled(img) then
      img:symlink(M.RESOLVED_STUB, M.PATH)
      log.info("%s -> %s (systemd-resolved is enabled)", M.PATH, M.RESOLVED_STUB)
      return
    end
  else
    util.raise("usage", "unknown resolv.conf state '" .. tostring(saved.type) .. "'")
  end
  log.info("%s restored (%s)", M.PATH, saved.type)
end

--- Runs `fn` with the host's resolv.conf in place and restores the
--- original afterwards, also when `fn` fails.
---@param img imgrecipe.Image
---@param fn fun()
function M.with_override(img, fn)
  local saved = M.override(img)
  local ok, err = pcall(fn)
  local rok, rerr = pcall(M.restore, img, saved)
  if not ok then error(err, 0) end
  if not rok then error(rerr, 0) end
end

return M
