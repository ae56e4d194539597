--- hardening: a small recipe library that hardens an image's SSH server
--- and kernel settings with drop-in files (no package installs), so a
--- recipe says what it wants in one call:
---
---     local hardening = require "hardening"
---     hardening.apply(img, { ssh = { allow_users = { "admin" } }, sysctl = {} })
---
--- Every function takes a `root`: an opened and mounted imgrecipe Image, the
--- root of a new disk layout, or anything with `write_file`, `read_file` and
--- `exists` (the library's tests pass an in-memory one).
local imgrecipe = require "imgrecipe"
local util = require "imgrecipe.util"

local lib = imgrecipe.library{
  name = "hardening",
  version = "1.0.0",
  api = 1,
  description = "SSH and sysctl hardening drop-ins",
}

lib.ssh = require "hardening.ssh"
lib.sysctl = require "hardening.sysctl"

---@class hardening.ApplyOpts
---@field ssh? hardening.SshOpts|false the sshd drop-in (default {}); false: none
---@field sysctl? table<string, string|number>|false kernel settings on top of the defaults (default {}); false: none
---@field banner? string text of /etc/issue.net, shown before SSH login

--- Writes the hardening drop-ins into `root`; returns the files written.
---@param root table
---@param opts? hardening.ApplyOpts
---@return string[]
function lib.apply(root, opts)
  util.check_options("hardening.apply", opts, { ssh = "table|boolean", sysctl = "table|boolean", banner = "string" })
  opts = opts or {}
  local written = {}
  if opts.ssh ~= false then
    local ssh_opts = {}
    for k, v in pairs(type(opts.ssh) == "table" and opts.ssh or {}) do ssh_opts[k] = v end
    if opts.banner and ssh_opts.banner == nil then ssh_opts.banner = "/etc/issue.net" end
    written[#written + 1] = lib.ssh.install(root, ssh_opts)
  end
  if opts.sysctl ~= false then
    written[#written + 1] = lib.sysctl.install(root, opts.sysctl == true and {} or opts.sysctl or {})
  end
  if opts.banner then
    root:write_file("/etc/issue.net", opts.banner:gsub("\n?$", "\n"), { mode = "0644" })
    written[#written + 1] = "/etc/issue.net"
  end
  return written
end

return lib
