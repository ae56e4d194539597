--- SELinux: the mode (kernel arguments and /etc/selinux/config) and file
--- relabelling with the image's own setfiles, as ALIC does
--- (alic-reference §4.8).
-- @module imgrecipe.selinux
local files = require "imgrecipe.host.files"
local grub = require "imgrecipe.grub"
local osrelease = require "imgrecipe.osrelease"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"

local M = {}

M.CONFIG = "/etc/selinux/config"
--- Kernel arguments that carry the SELinux mode; replaced as a group.
M.ARG_NAMES = { "security", "selinux", "enforcing" }

local MODES = { disabled = true, permissive = true, enforcing = true, ["force-enforcing"] = true }
-- Filesystems setfiles can label; FAT has no xattrs.
local LABELLED = { ext2 = true, ext3 = true, ext4 = true, xfs = true, btrfs = true }
local UNLABELLED = { vfat = true, fat = true, fat16 = true, fat32 = true, msdos = true }
-- Relabel view of each mount (non-recursive bind, so directories hidden
-- under other mount points are labelled too). Not under /run: the run's
-- tmpfs would hide it.
local BIND_ROOT = "/.imgrecipe-relabel"

local function check_mode(mode)
  if not MODES[mode] then
    util.raise("usage", string.format("unknown SELinux mode '%s' (expected disabled, permissive, enforcing or force-enforcing)", tostring(mode)))
  end
end

--- The kernel arguments for a mode.
---@param mode string disabled|permissive|enforcing|force-enforcing
---@return string[]
function M.kernel_args(mode)
  check_mode(mode)
  if mode == "disabled" then return { "selinux=0" } end
  if mode == "force-enforcing" then return { "security=selinux", "selinux=1", "enforcing=1" } end
  return { "security=selinux", "selinux=1" }
end

--- The SELINUX= value of /etc/selinux/config for a mode.
---@param mode string
---@return string
function M.config_value(mode)
  check_mode(mode)
  if mode == "disabled" then return "disabled" end
  if mode == "permissive" then return "permissive" end
  return "enforcing"
end

--- The mode kernel arguments select: "force-enforcing", "disabled", or ""
--- when /etc/selinux/config decides. With `defer_if_missing` (RPM
--- distributions), no SELinux argument at all also defers to the file.
---@param args string[]
---@param defer_if_missing? boolean
---@return string
function M.mode_from_args(args, defer_if_missing)
  local security = grub.arg_value(args, "security")
  local selinux = grub.arg_value(args, "selinux")
  if security == "selinux" and selinux == "1" then
    if grub.arg_value(args, "enforcing") == "1" then return "force-enforcing" end
    return ""
  end
  if defer_if_missing and security == nil and selinux == nil and grub.arg_value(args, "enforcing") == nil then
    return ""
  end
  return "disabled"
end

--- Sets SELINUX= in /etc/selinux/config text (every such line, as sed would).
---@param text string
---@param mode string
---@return string
function M.update_config(text, mode)
  local value = M.config_value(mode)
  return util.map_lines(text, function(line)
    if line:match("^SELINUX=") then return "SELINUX=" .. value end
    return line
  end)
end

-- The kernel arguments the image boots with: /etc/default/grub for
-- grub-mkconfig images, the first boot entry otherwise.
local function boot_args(img)
  for _, path in ipairs(grub.CONFIGS) do
    local cfg = img:read_file(path)
    if cfg then
      local defaults = img:read_file("/etc/default/grub")
      if grub.is_generated(cfg) and defaults then
        local args = grub.default_var_words(defaults, "GRUB_CMDLINE_LINUX") or {}
        for _, a in ipairs(grub.default_var_words(defaults, "GRUB_CMDLINE_LINUX_DEFAULT") or {}) do args[#args + 1] = a end
        return args
      end
      return grub.first_kernel_args(cfg) or {}
    end
  end
  return {}
end

--- The image's current SELinux mode, from its boot arguments, else from
--- /etc/selinux/config ("disabled" when neither enables it).
---@param img imgrecipe.Image
---@param args? string[] the kernel arguments it boots with (default: its GRUB configuration's; a UKI image's are its UKIs')
---@return string
function M.current_mode(img, args)
  local family = osrelease.family(osrelease.read(img))
  local mode = M.mode_from_args(args or boot_args(img), family ~= "debian")
  if mode ~= "" then return mode end
  local config = img:read_file(M.CONFIG)
  -- No policy installed: nothing to enforce (ALIC fails here instead).
  if not config then return "disabled" end
  local value
  for line in config:gmatch("[^\n]+") do
    value = value or line:match("^SELINUX=([%w_]+)%s*$")
  end
  if value == "enforcing" or value == "permissive" or value == "disabled" then return value end
  if value == nil then
    util.raise("config", string.format("failed to find SELinux mode in (%s) file", M.CONFIG:sub(2)))
  end
  util.raise("config", string.format("unknown SELinux mode (%s) found in (%s) file", value, M.CONFIG:sub(2)))
end

--- Sets the SELinux mode: the kernel arguments (unless `opts.boot_args` is
--- false, as after a bootloader hard-reset that already wrote them) and
--- SELINUX= in /etc/selinux/config. An enabled mode needs a policy
--- installed (the config file).
---@param img imgrecipe.Image
---@param mode string disabled|permissive|enforcing|force-enforcing
---@param opts? {boot_args?: boolean}
function M.set_mode(img, mode, opts)
  util.check_options("selinux.set_mode", opts, { "boot_args" })
  check_mode(mode)
  opts = opts or {}
  local config = img:read_file(M.CONFIG)
  if mode ~= "disabled" and not config then
    util.raise("config", string.format("SELinux is enabled but policy file is missing (file='%s'):\n"
      .. "please ensure an SELinux policy is installed:\n"
      .. "the 'selinux-policy' package provides the default policy", M.CONFIG))
  end
  if opts.boot_args ~= false then
    local args = M.kernel_args(mode)
    local changed = grub.edit_configs(img, function(text)
      return grub.replace_kernel_args(text, M.ARG_NAMES, args)
    end, "config")
    local defaults = img:read_file("/etc/default/grub")
    if defaults then
      defaults = grub.replace_default_var_args(defaults, "GRUB_CMDLINE_LINUX_DEFAULT", M.ARG_NAMES, {})
      img:write_file("/etc/default/grub", grub.replace_default_var_args(defaults, "GRUB_CMDLINE_LINUX", M.ARG_NAMES, args))
    end
    log.info("SELinux kernel arguments in %s: %s", table.concat(changed, ", "), table.concat(args, " "))
  end
  if config then
    img:write_file(M.CONFIG, M.update_config(config, mode))
    log.info("%s: SELINUX=%s", M.CONFIG, M.config_value(mode))
  end
end

--- The file_contexts of the policy /etc/selinux/config selects (SELINUXTYPE).
---@param img imgrecipe.Image
---@return string path in the image
function M.file_contexts(img)
  local config = img:read_file(M.CONFIG)
  if not config then
    util.raise("config", string.format("cannot relabel: %s is missing (no SELinux policy installed)", M.CONFIG))
  end
  local policy
  for line in config:gmatch("[^\n]+") do
    policy = line:match("^SELINUXTYPE=(.*)$") or policy
  end
  policy = policy and policy:gsub("^%s+", ""):gsub("%s+$", "")
  if not policy or policy == "" or policy:find("/", 1, true) then
    util.raise("config", string.format("cannot relabel: no valid SELINUXTYPE in %s", M.CONFIG))
  end
  return string.format("/etc/selinux/%s/contexts/files/file_contexts", policy)
end

--- Labels every file of the image's writable Linux filesystems with the
--- image's own `setfiles` (policycoreutils), as ALIC does:
--- `setfiles -m -v -r <root> <file_contexts> <mount>` per mount, each seen
--- through a non-recursive bind so nothing hides under mount points.
---@param img imgrecipe.Image
---@return string[] targets the mounts that were labelled
function M.relabel(img)
  local fc = M.file_contexts(img)
  if not img:exists(fc) then
    util.raise("config", string.format("cannot relabel: %s is missing (is the SELinux policy complete?)", fc))
  end
  local labelled = {}
  for _, m in ipairs(img:mounts()) do
    local fstype = m.fstype
    if m.staged or UNLABELLED[fstype] then
      log.debug("SELinux: not labelling %s (%s)", m.target, fstype)
    elseif not LABELLED[fstype] then
      util.raise("unsupported", string.format("unknown fsType (%s) for mount (%s), cannot configure SELinux", fstype, m.target))
    else
      local view = m.target == "/" and BIND_ROOT or BIND_ROOT .. m.target
      img:run({ "setfiles", "-m", "-v", "-r", BIND_ROOT, fc, view }, {
        binds = { { host = files.resolve(img:_root(), m.target), image = view, read_only = false, recursive = false } },
        quiet = true,
      })
      labelled[#labelled + 1] = m.target
    end
  end
  log.info("SELinux labels set on %s", table.concat(labelled, ", "))
  return labelled
end

return M
