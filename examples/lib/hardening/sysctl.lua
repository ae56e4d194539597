--- hardening.sysctl: kernel settings in /etc/sysctl.d (applied at boot by
--- systemd-sysctl).
local util = require "imgrecipe.util"

local M = {}

M.PATH = "/etc/sysctl.d/90-hardening.conf"

--- The defaults: kernel pointers and the kernel log hidden from users, no
--- ICMP redirects, reverse-path filtering, no unprivileged BPF.
M.DEFAULTS = {
  ["kernel.kptr_restrict"] = 2,
  ["kernel.dmesg_restrict"] = 1,
  ["kernel.unprivileged_bpf_disabled"] = 1,
  ["net.ipv4.conf.all.rp_filter"] = 1,
  ["net.ipv4.conf.all.accept_redirects"] = 0,
  ["net.ipv4.conf.all.send_redirects"] = 0,
  ["net.ipv6.conf.all.accept_redirects"] = 0,
}

--- The file's text: the defaults with `overrides` applied (a value of false
--- drops a default), sorted by key.
---@param overrides? table<string, string|number|false>
---@return string
function M.config(overrides)
  local fname = "hardening.sysctl.config"
  util.validate("overrides", overrides, "table", true)
  local merged = {}
  for k, v in pairs(M.DEFAULTS) do merged[k] = v end
  for k, v in pairs(overrides or {}) do
    if type(k) ~= "string" or not k:match("^[%w_]+[%w_.%-/]*$") then
      util.raise("usage", string.format("%s: %s is not a sysctl key", fname, string.format("%q", tostring(k))),
        { func = fname })
    end
    if v ~= false and type(v) ~= "number" and (type(v) ~= "string" or v:find("[\n\r]")) then
      util.raise("usage", string.format("%s: key '%s': expected a number, a one-line string or false, got %s", fname,
        k, type(v)), { func = fname })
    end
    merged[k] = v or nil
  end
  local keys = {}
  for k in pairs(merged) do keys[#keys + 1] = k end
  table.sort(keys)
  local lines = { "# Written by the hardening recipe library." }
  for _, k in ipairs(keys) do lines[#lines + 1] = k .. " = " .. tostring(merged[k]) end
  return table.concat(lines, "\n") .. "\n"
end

--- Writes the file (0644); returns its path.
---@param root table
---@param overrides? table<string, string|number|false>
---@return string
function M.install(root, overrides)
  root:write_file(M.PATH, M.config(overrides), { mode = "0644" })
  return M.PATH
end

return M
