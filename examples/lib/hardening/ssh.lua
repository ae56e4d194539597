--- hardening.ssh: an sshd_config drop-in (/etc/ssh/sshd_config.d/), which
--- Debian's and Fedora's sshd_config include; the main file is not edited.
local util = require "imgrecipe.util"

local M = {}

M.PATH = "/etc/ssh/sshd_config.d/50-hardening.conf"

---@class hardening.SshOpts
---@field permit_root_login? string "no" (default) or "prohibit-password"
---@field password_authentication? boolean default false
---@field allow_users? string[] only these accounts may log in (default: any)
---@field port? integer default 22
---@field max_auth_tries? integer default 3
---@field banner? string a file shown before login

local SPEC = {
  permit_root_login = "string", password_authentication = "boolean", allow_users = "table",
  port = "number", max_auth_tries = "number", banner = "string",
}

local function whole(fname, key, v, lo, hi)
  if v ~= math.floor(v) or v < lo or v > hi then
    util.raise("usage", string.format("%s: option '%s': expected a whole number from %d to %d, got %s", fname, key,
      lo, hi, tostring(v)), { func = fname })
  end
end

--- The drop-in's text.
---@param opts? hardening.SshOpts
---@return string
function M.config(opts)
  local fname = "hardening.ssh.config"
  util.check_options(fname, opts, SPEC)
  opts = opts or {}
  local root_login = opts.permit_root_login or "no"
  if root_login ~= "no" and root_login ~= "prohibit-password" then
    util.raise("usage", string.format("%s: option 'permit_root_login': expected \"no\" or \"prohibit-password\", got %q",
      fname, root_login), { func = fname })
  end
  local port = opts.port or 22
  whole(fname, "port", port, 1, 65535)
  local tries = opts.max_auth_tries or 3
  whole(fname, "max_auth_tries", tries, 1, 100)
  local lines = {
    "# Written by the hardening recipe library. Edit the recipe, not this file.",
    "PermitRootLogin " .. root_login,
    "PasswordAuthentication " .. (opts.password_authentication and "yes" or "no"),
    "KbdInteractiveAuthentication no",
    "PermitEmptyPasswords no",
    "X11Forwarding no",
    "MaxAuthTries " .. tries,
  }
  if port ~= 22 then lines[#lines + 1] = "Port " .. port end
  if opts.allow_users then
    for i, u in ipairs(opts.allow_users) do
      if type(u) ~= "string" or not u:match("^[%a_][%w_.%-]*$") then
        util.raise("usage", string.format("%s: option 'allow_users'[%d]: %s is not an account name", fname, i,
          string.format("%q", tostring(u))), { func = fname })
      end
    end
    if #opts.allow_users == 0 then
      util.raise("usage", fname .. ": option 'allow_users' is empty: nobody could log in", { func = fname })
    end
    lines[#lines + 1] = "AllowUsers " .. table.concat(opts.allow_users, " ")
  end
  if opts.banner then lines[#lines + 1] = "Banner " .. opts.banner end
  return table.concat(lines, "\n") .. "\n"
end

--- Writes the drop-in (0644); returns its path.
---@param root table a mounted Image or DiskRoot
---@param opts? hardening.SshOpts
---@return string
function M.install(root, opts)
  local text = M.config(opts)
  root:write_file(M.PATH, text, { mode = "0644" })
  return M.PATH
end

return M
