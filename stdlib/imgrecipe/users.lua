--- Groups and users, as ALIC's os.groups and os.users: accounts are made
--- with the image's own shadow-utils (groupadd, useradd, usermod); passwords,
--- expiry and SSH keys are written by the host into /etc/shadow and
--- ~/.ssh/authorized_keys, so secrets never appear in a command line or a log.
-- @module imgrecipe.users
local host_names = require "imgrecipe.host.names"
local host_users = require "imgrecipe.host.users"
local log = require "imgrecipe.log"
local util = require "imgrecipe.util"

local validate = util.validate

local M = {}

local function split(line, sep)
  local out, pos = {}, 1
  while true do
    local i = line:find(sep, pos, true)
    if not i then
      out[#out + 1] = line:sub(pos)
      return out
    end
    out[#out + 1] = line:sub(pos, i - 1)
    pos = i + 1
  end
end

--- The fields of `name`'s entry in a colon-separated account file
--- (/etc/passwd, /etc/group), or nil.
---@param text string|nil
---@param name string
---@return string[]|nil
function M.find_entry(text, name)
  for line in (text or ""):gmatch("[^\n]+") do
    local fields = split(line, ":")
    if fields[1] == name then return fields end
  end
  return nil
end

--- `text` (/etc/passwd) with the login shell of `name` replaced by `shell`.
---@param text string
---@param name string
---@param shell string
---@return string
function M.with_shell(text, name, shell)
  if shell:find("[:\n]") then
    util.raise("usage", string.format("startup command of user '%s' must not contain ':' or a line break", name))
  end
  local found = false
  local result = util.map_lines(text, function(line)
    local fields = split(line, ":")
    if fields[1] ~= name or #fields < 7 then return line end
    fields[#fields] = shell
    found = true
    return table.concat(fields, ":")
  end)
  if not found then util.raise("usage", string.format("user '%s' not found in /etc/passwd", name)) end
  return result
end

--- Raises a usage error unless `name` is a user or group name that useradd
--- and groupadd accept without --badname (host/security/names.hpp): a name
--- such as "../../root" would otherwise reach paths (home, ~/.ssh) and
--- colon-separated account files.
---@param what string "user" or "group"
---@param name string
function M.check_name(what, name)
  local why = host_names.account_name(name)
  if why then
    util.raise("usage", string.format("invalid %s name '%s': %s", what, host_names.shown(name), why))
  end
end

-- Runs a command, naming `what` in the error.
local function run(img, argv, what)
  util.annotate(what, img.run, img, argv)
end

---@class imgrecipe.GroupSpec
---@field name string
---@field gid? integer only for a new group

--- Adds a group (`groupadd`) unless it exists. Setting `gid` on an existing
--- group is an error, as in ALIC.
---@param img imgrecipe.Image
---@param spec imgrecipe.GroupSpec
---@return boolean added
function M.add_group(img, spec)
  util.check_options("users.add_group", spec, { "name", "gid" })
  validate("spec", spec, "table")
  validate("spec.name", spec.name, "string")
  validate("spec.gid", spec.gid, "number", true)
  M.check_name("group", spec.name)
  if M.find_entry(img:read_file("/etc/group"), spec.name) then
    if spec.gid then
      util.raise("config", string.format("cannot set GID on a group that already exists (GID='%d', group='%s')",
        spec.gid, spec.name))
    end
    log.info("group '%s' already exists", spec.name)
    return false
  end
  local argv = { "groupadd" }
  if spec.gid then
    argv[#argv + 1] = "-g"
    argv[#argv + 1] = string.format("%d", spec.gid)
  end
  argv[#argv + 1] = "--"
  argv[#argv + 1] = spec.name
  run(img, argv, string.format("failed to add group '%s'", spec.name))
  log.info("group '%s' added", spec.name)
  return true
end

---@class imgrecipe.Password
---@field type string locked (default) | plain-text | hashed | plain-text-file | hashed-file
---@field value? string the password, its crypt(3) hash, or a file holding either (relative to base_dir)

---@class imgrecipe.UserSpec
---@field name string
---@field uid? integer new users only
---@field password? imgrecipe.Password
---@field password_expires_days? integer -1 removes the expiry
---@field ssh_public_keys? string[]
---@field ssh_public_key_paths? string[] host files (relative to base_dir)
---@field primary_group? string
---@field secondary_groups? string[]
---@field startup_command? string login shell
---@field home_directory? string new users only

--- Adds a user (`useradd -m`) or updates an existing one, as ALIC does:
--- password, expiry, groups, authorized SSH keys and login shell.
---@param img imgrecipe.Image
---@param spec imgrecipe.UserSpec
---@param base_dir? string directory that password and key files are relative to
---@return boolean added true for a new user
function M.add_user(img, spec, base_dir)
  util.check_options("users.add_user", spec,
    { "name", "uid", "password", "password_expires_days", "ssh_public_keys", "ssh_public_key_paths", "primary_group", "secondary_groups", "startup_command", "home_directory" })
  validate("spec", spec, "table")
  validate("spec.name", spec.name, "string")
  validate("spec.uid", spec.uid, "number", true)
  validate("spec.password", spec.password, "table", true)
  util.check_options("users.add_user: password", spec.password, { "type", "value" })
  validate("spec.password_expires_days", spec.password_expires_days, "number", true)
  validate("spec.home_directory", spec.home_directory, "string", true)
  validate("spec.primary_group", spec.primary_group, "string", true)
  validate("spec.startup_command", spec.startup_command, "string", true)
  validate("base_dir", base_dir, "string", true)
  validate("spec.secondary_groups", spec.secondary_groups, "table", true)
  M.check_name("user", spec.name)
  if spec.primary_group and spec.primary_group ~= "" then M.check_name("group", spec.primary_group) end
  for _, g in ipairs(spec.secondary_groups or {}) do
    validate("spec.secondary_groups[]", g, "string")
    M.check_name("group", g)
  end
  local name = spec.name
  local exists = M.find_entry(img:read_file("/etc/passwd"), name) ~= nil
  local home = spec.home_directory ~= "" and spec.home_directory or nil
  if exists then
    log.info("updating user '%s'", name)
    if spec.uid then
      util.raise("config", string.format("cannot set UID on a user that already exists (UID='%d', user='%s')",
        spec.uid, name))
    end
    if home then
      util.raise("config", string.format(
        "cannot set home directory on a user that already exists (homeDir='%s', user='%s')", home, name))
    end
  else
    log.info("adding user '%s'", name)
    local argv = { "useradd", "-m" }
    local function opt(flag, v) if v then argv[#argv + 1] = flag; argv[#argv + 1] = v end end
    opt("-u", spec.uid and string.format("%d", spec.uid))
    opt("-d", home)
    opt("-g", spec.primary_group ~= "" and spec.primary_group or nil)
    argv[#argv + 1] = "--"
    argv[#argv + 1] = name
    run(img, argv, string.format("failed to add user '%s'", name))
  end

  if spec.password then
    local kind = spec.password.type or "locked"
    local set = host_users.set_password(img:_root(), name, spec.password, base_dir, not exists)
    log.info("user '%s': %s", name, set and ("password set (" .. kind .. ")") or "password login locked")
  end
  if spec.password_expires_days then
    host_users.set_password_expiry(img:_root(), name, spec.password_expires_days)
    log.info("user '%s': password expiry %d days", name, spec.password_expires_days)
  end
  -- A new user got its primary group from useradd.
  if exists and spec.primary_group and spec.primary_group ~= "" then
    run(img, { "usermod", "-g", spec.primary_group, "--", name },
      string.format("failed to set the primary group of user '%s'", name))
  end
  if spec.secondary_groups and #spec.secondary_groups > 0 then
    run(img, { "usermod", "-a", "-G", table.concat(spec.secondary_groups, ","), "--", name },
      string.format("failed to set the secondary groups of user '%s'", name))
  end

  local keys, key_files = spec.ssh_public_keys or {}, {}
  for i, p in ipairs(spec.ssh_public_key_paths or {}) do key_files[i] = util.join(base_dir or ".", p) end
  if #keys > 0 or #key_files > 0 then
    local entry = M.find_entry(img:read_file("/etc/passwd"), name)
    local n = host_users.authorized_keys(img:_root(), {
      user = name, home = entry[6], uid = tonumber(entry[3]), gid = tonumber(entry[4]),
      keys = keys, key_files = key_files, keep_existing = exists,
    })
    log.info("user '%s': %d line(s) in %s/.ssh/authorized_keys", name, n, entry[6])
  end

  if spec.startup_command and spec.startup_command ~= "" then
    img:write_file("/etc/passwd", M.with_shell(img:read_file("/etc/passwd"), name, spec.startup_command))
    log.info("user '%s': login shell %s", name, spec.startup_command)
  end
  return not exists
end

return M
