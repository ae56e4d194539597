-- Tests of the hardening library (no root: an in-memory root stands in for
-- a mounted image). Run: imgrecipe test --lib-path examples/lib examples/lib/tests/test_hardening.lua
local hardening = require "hardening"

-- The part of imgrecipe.Image the library uses.
local function memory_root()
  local files, modes = {}, {}
  return {
    files = files, modes = modes,
    write_file = function(_, path, content, opts)
      files[path] = content
      modes[path] = opts and opts.mode
    end,
    read_file = function(_, path) return files[path] end,
    exists = function(_, path) return files[path] ~= nil end,
  }
end

local function has_line(text, line)
  return ("\n" .. text):find("\n" .. line:gsub("%p", "%%%0") .. "\n") ~= nil
end

return {
  test_metadata = function(t)
    t:eq(hardening._NAME, "hardening")
    t:eq(hardening._VERSION, "1.0.0")
    t:eq(hardening._API, 1)
  end,
  test_ssh_defaults = function(t)
    local text = hardening.ssh.config()
    t:ok(has_line(text, "PermitRootLogin no"), text)
    t:ok(has_line(text, "PasswordAuthentication no"), text)
    t:ok(has_line(text, "MaxAuthTries 3"), text)
    t:ok(not text:find("AllowUsers", 1, true), text)
    t:ok(not text:find("\nPort ", 1, true), text)
  end,
  test_ssh_options = function(t)
    local text = hardening.ssh.config({ allow_users = { "admin", "ops" }, port = 2222, password_authentication = true,
      permit_root_login = "prohibit-password" })
    t:ok(has_line(text, "AllowUsers admin ops"), text)
    t:ok(has_line(text, "Port 2222"), text)
    t:ok(has_line(text, "PasswordAuthentication yes"), text)
    t:ok(has_line(text, "PermitRootLogin prohibit-password"), text)
  end,
  test_ssh_option_errors = function(t)
    t:raises(function() hardening.ssh.config({ allow_user = { "a" } }) end,
      "hardening.ssh.config: unknown option 'allow_user' (did you mean 'allow_users'?")
    t:raises(function() hardening.ssh.config({ port = 70000 }) end, "option 'port': expected a whole number from 1 to 65535")
    t:raises(function() hardening.ssh.config({ permit_root_login = "yes" }) end, "option 'permit_root_login'")
    t:raises(function() hardening.ssh.config({ allow_users = { "bad name" } }) end, "is not an account name")
    t:raises(function() hardening.ssh.config({ allow_users = {} }) end, "nobody could log in")
    t:raises(function() hardening.ssh.config({ port = "22" }) end, "option 'port': expected number, got string")
  end,
  test_sysctl = function(t)
    local text = hardening.sysctl.config({ ["net.ipv4.ip_forward"] = 1, ["kernel.dmesg_restrict"] = false })
    t:ok(has_line(text, "net.ipv4.ip_forward = 1"), text)
    t:ok(has_line(text, "kernel.kptr_restrict = 2"), text)
    t:ok(not text:find("dmesg_restrict", 1, true), text)
    t:raises(function() hardening.sysctl.config({ ["bad key\n"] = 1 }) end, "is not a sysctl key")
    t:raises(function() hardening.sysctl.config({ ["kernel.x"] = "a\nb" }) end, "a one-line string")
  end,
  test_apply_writes_the_drop_ins = function(t)
    local root = memory_root()
    local written = hardening.apply(root, { ssh = { allow_users = { "admin" } }, banner = "Authorized use only" })
    t:eq(table.concat(written, " "), hardening.ssh.PATH .. " " .. hardening.sysctl.PATH .. " /etc/issue.net")
    t:ok(has_line(root.files[hardening.ssh.PATH], "AllowUsers admin"))
    t:ok(has_line(root.files[hardening.ssh.PATH], "Banner /etc/issue.net"))
    t:eq(root.files["/etc/issue.net"], "Authorized use only\n")
    t:eq(root.modes[hardening.ssh.PATH], "0644")
  end,
  test_apply_parts_can_be_left_out = function(t)
    local root = memory_root()
    local written = hardening.apply(root, { ssh = false })
    t:eq(#written, 1)
    t:eq(root.files[hardening.ssh.PATH], nil)
    t:raises(function() hardening.apply(root, { sysctls = {} }) end, "hardening.apply: unknown option 'sysctls' (did you mean 'sysctl'?")
  end,
}
