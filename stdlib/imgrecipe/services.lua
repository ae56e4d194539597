--- systemd units, as ALIC's os.services: `systemctl enable|disable` run
--- offline inside the image (no systemd is running there, so systemctl only
--- edits the unit symlinks).
-- @module imgrecipe.services
local log = require "imgrecipe.log"
local util = require "imgrecipe.util"

local M = {}

local function quote(argv)
  local out = {}
  for i, a in ipairs(argv) do out[i] = util.shell_quote(a) end
  return table.concat(out, " ")
end

local function systemctl(img, verb, unit)
  util.annotate(string.format("failed to %s service '%s'", verb, unit), img.run, img, { "systemctl", verb, "--", unit })
end

--- Enables a unit (`systemctl enable`).
---@param img imgrecipe.Image
---@param unit string e.g. "sshd.service" or "sshd"
function M.enable(img, unit)
  util.validate("unit", unit, "string")
  log.info("enabling service '%s'", unit)
  systemctl(img, "enable", unit)
end

-- `systemctl is-enabled`: true/false, or an error starting with `what` when
-- the unit does not exist (offline, `systemctl disable` would not notice).
local function enabled_state(img, unit, what)
  local argv = { "systemctl", "is-enabled", "--", unit }
  local r = img:run(argv, { check = false, quiet = true })
  if r.exit_code == 0 then return true end
  if r.output[#r.output] == "disabled" then return false end
  util.raise("command", string.format("%s: command `%s` in the image exited with code %d (no such unit?)",
    what, quote(argv), r.exit_code), { command = argv, exit_code = r.exit_code, output = r.output })
end

--- Whether a unit is enabled (`systemctl is-enabled`); a unit that does not
--- exist is an error.
---@param img imgrecipe.Image
---@param unit string
---@return boolean
function M.is_enabled(img, unit)
  util.validate("unit", unit, "string")
  return enabled_state(img, unit, string.format("cannot get the state of service '%s'", unit))
end

--- Disables a unit (`systemctl disable`); it must exist, as in ALIC.
---@param img imgrecipe.Image
---@param unit string
function M.disable(img, unit)
  util.validate("unit", unit, "string")
  log.info("disabling service '%s'", unit)
  enabled_state(img, unit, string.format("failed to disable service '%s'", unit))
  systemctl(img, "disable", unit)
end

return M
