--- Filesystem overlays (ALIC's os.overlays, alic-reference §4.2 step 15):
--- an overlayfs mounted from /etc/fstab at boot, with one or more lower
--- directories and a writable upper directory (typically on a state
--- partition). An initrd overlay is mounted by systemd in the initramfs,
--- under /sysroot, before the root is switched to (for /etc on a read-only
--- root). docs/config.md (os.overlays).
---
---     local overlays = require "imgrecipe.overlays"
---     overlays.apply(img, { { mount_point = "/media", lower_dirs = { "/media", "/home" },
---                             upper_dir = "/overlays/media/upper", work_dir = "/overlays/media/work" } })
---     require("imgrecipe.diskboot").regenerate_initramfs(img)
-- @module imgrecipe.overlays
local log = require "imgrecipe.host.log"
local util = require "imgrecipe.util"

local validate = util.validate

local M = {}

---@class imgrecipe.Overlay
---@field mount_point string where the overlay is mounted
---@field lower_dirs string[] read-only layers, the first on top
---@field upper_dir string writable layer
---@field work_dir string overlayfs work directory (same filesystem as upper_dir)
---@field initrd? boolean mounted in the initramfs under /sysroot (ALIC's isInitrdOverlay)
---@field mount_dependencies? string[] mounts that must be up first (x-systemd.requires=)
---@field mount_options? string extra mount options

local FIELDS = { mount_point = "string", lower_dirs = "table", upper_dir = "string", work_dir = "string",
                 initrd = "boolean", mount_dependencies = "table", mount_options = "string" }

local function inside(a, b)  -- a is b or below it
  return a == b or a:sub(1, #b + 1) == b .. "/"
end

local function check_path(name, p)
  if p:sub(1, 1) ~= "/" or p:find("[%s:,]") then
    util.raise("usage", string.format("%s: '%s' must be an absolute path without whitespace, ':' or ','", name, p))
  end
end

--- Checks one overlay (types, absolute paths, upper and work apart).
---@param ov imgrecipe.Overlay
---@param name? string how errors name it (default "overlay")
function M.check(ov, name)
  name = name or "overlay"
  validate(name, ov, "table")
  for k in pairs(ov) do
    if not FIELDS[k] then
      util.raise("usage", string.format("%s: unknown field '%s' (expected one of mount_point, lower_dirs, upper_dir, "
        .. "work_dir, initrd, mount_dependencies, mount_options)", name, tostring(k)))
    end
  end
  for k, t in pairs(FIELDS) do
    validate(name .. "." .. k, ov[k], t, not (k == "mount_point" or k == "upper_dir" or k == "work_dir"))
  end
  check_path(name .. ".mount_point", ov.mount_point)
  check_path(name .. ".upper_dir", ov.upper_dir)
  check_path(name .. ".work_dir", ov.work_dir)
  for i, d in ipairs(ov.lower_dirs or {}) do check_path(string.format("%s.lower_dirs[%d]", name, i), d) end
  for i, d in ipairs(ov.mount_dependencies or {}) do
    check_path(string.format("%s.mount_dependencies[%d]", name, i), d)
  end
  if ov.lower_dirs == nil or #ov.lower_dirs == 0 then
    util.raise("usage", name .. ".lower_dirs: at least one lower directory is needed")
  end
  if inside(ov.upper_dir, ov.work_dir) or inside(ov.work_dir, ov.upper_dir) then
    util.raise("usage", string.format("%s: upper_dir '%s' and work_dir '%s' must be apart (neither inside the other)",
      name, ov.upper_dir, ov.work_dir))
  end
  if ov.mount_options and ov.mount_options:find("%s") then
    util.raise("usage", name .. ".mount_options: no whitespace allowed")
  end
end

-- fstab fields are octal-escaped (\040 for a space).
local function unescape(s)
  return (s:gsub("\\(%d%d%d)", function(o) return string.char(tonumber(o, 8)) end))
end

--- The entries of fstab text: `{source=, target=, type=, options=}`.
---@param text string
---@return table[]
function M.parse_fstab(text)
  local list = {}
  for line in text:gmatch("[^\n]+") do
    if not line:match("^%s*#") then
      local f = {}
      for w in line:gmatch("%S+") do f[#f + 1] = unescape(w) end
      if #f >= 2 then list[#list + 1] = { source = f[1], target = f[2], type = f[3], options = f[4] or "defaults" } end
    end
  end
  return list
end

local function has_option(options, opt)
  for o in (options or ""):gmatch("[^,]+") do
    if o == opt then return true end
  end
  return false
end

--- The fstab line of an overlay, as ALIC writes it. An initrd overlay's
--- paths get the /sysroot prefix, and each of its mount dependencies must
--- be an fstab entry with x-initrd.mount (`fstab`: the entries it is
--- checked against; nil skips the check).
---@param ov imgrecipe.Overlay
---@param fstab? table[] M.parse_fstab of the image's /etc/fstab
---@return string
function M.fstab_line(ov, fstab)
  M.check(ov)
  local function at(p) return ov.initrd and ("/sysroot" .. p) or p end
  local lower = {}
  for i, d in ipairs(ov.lower_dirs) do lower[i] = at(d) end
  local opts = { string.format("lowerdir=%s,upperdir=%s,workdir=%s", table.concat(lower, ":"), at(ov.upper_dir),
    at(ov.work_dir)) }
  for _, dep in ipairs(ov.mount_dependencies or {}) do
    if ov.initrd and fstab then
      local entry
      for _, e in ipairs(fstab) do
        if e.target == dep then entry = e end
      end
      if not entry then
        util.raise("config", string.format("overlay %s: mount dependency %s is not in /etc/fstab", ov.mount_point, dep))
      end
      if not has_option(entry.options, "x-initrd.mount") then
        util.raise("config", string.format("overlay %s: mount dependency %s needs the x-initrd.mount option in "
          .. "/etc/fstab (an initrd overlay is mounted before the root is switched to)", ov.mount_point, dep))
      end
    end
    opts[#opts + 1] = "x-systemd.requires=" .. at(dep)
  end
  if ov.initrd then opts[#opts + 1] = "x-initrd.mount,x-systemd.wanted-by=initrd-fs.target" end
  if ov.mount_options and ov.mount_options ~= "" then opts[#opts + 1] = ov.mount_options end
  return string.format("overlay %s overlay %s 0 0", ov.mount_point:gsub(" ", "\\040"), table.concat(opts, ","))
end

-- The overlay driver in the initramfs: dracut's add_drivers (ALIC), and the
-- initramfs-tools module list where the image builds its initramfs that way.
local function add_driver(img)
  img:write_file("/etc/dracut.conf.d/overlay.conf", 'add_drivers+=" overlay "\n', { mode = "0644" })
  local modules = "/etc/initramfs-tools/modules"
  if img:exists(modules) then
    local text = img:read_file(modules) or ""
    if not text:match("\noverlay\n") and not text:match("^overlay\n") then
      if text ~= "" and text:sub(-1) ~= "\n" then text = text .. "\n" end
      img:write_file(modules, text .. "overlay\n")
    end
  end
end

---@class imgrecipe.OverlaysOpts
---@field selinux_mode? string the image's SELinux mode after the build (default: its current mode); when not
---disabled, the upper directory gets the mount point's file contexts and the work directory no_access_t (semanage)

--- Adds overlays to a mounted image: the overlay driver in the initramfs
--- configuration, one /etc/fstab line per overlay (appended; the existing
--- lines are kept as they are), the mount point and the upper and work
--- directories, and the SELinux file-context rules. The initramfs is not
--- regenerated here: call `diskboot.regenerate_initramfs(img)` afterwards
--- (the YAML recipe does, as ALIC's step 17). An initrd overlay needs an
--- initramfs made by dracut (systemd in the initramfs mounts it).
---@param img imgrecipe.Image|imgrecipe.DiskRoot
---@param list imgrecipe.Overlay[]
---@param opts? imgrecipe.OverlaysOpts
function M.apply(img, list, opts)
  util.check_options("overlays.apply", opts, { "selinux_mode" })
  validate("img", img, "table")
  validate("list", list, "table")
  validate("opts", opts, "table", true)
  opts = opts or {}
  validate("opts.selinux_mode", opts.selinux_mode, "string", true)
  if #list == 0 then return end
  for i, ov in ipairs(list) do M.check(ov, string.format("list[%d]", i)) end
  for _, ov in ipairs(list) do
    if ov.initrd and not util.find_program(img, "dracut") then
      util.raise("config", string.format("overlay %s is an initrd overlay: it needs an initramfs made by dracut "
        .. "(systemd in the initramfs mounts it), and the image has no dracut (install the dracut package)",
        ov.mount_point))
    end
  end
  add_driver(img)
  local text = img:read_file("/etc/fstab") or ""
  local fstab = M.parse_fstab(text)
  if text ~= "" and text:sub(-1) ~= "\n" then text = text .. "\n" end
  for _, ov in ipairs(list) do
    text = text .. M.fstab_line(ov, fstab) .. "\n"
    for _, dir in ipairs({ ov.mount_point, ov.upper_dir, ov.work_dir }) do img:mkdir(dir, { mode = "0755" }) end
  end
  img:write_file("/etc/fstab", text)
  log.info("/etc/fstab: %d overlay(s) added", #list)
  local mode = opts.selinux_mode or img:selinux_mode()
  if mode ~= "disabled" then
    if not util.find_program(img, "semanage") then
      util.raise("config", "overlays with SELinux " .. mode .. ": the image has no semanage to give the upper "
        .. "directories their file contexts (Debian/Ubuntu and RPM distributions: policycoreutils-python-utils)")
    end
    for _, ov in ipairs(list) do
      img:run({ "semanage", "fcontext", "-a", "-e", ov.mount_point, ov.upper_dir }, { step = "overlays selinux" })
      img:run({ "semanage", "fcontext", "-a", "-f", "a", "-t", "no_access_t", "-r", "s0", ov.work_dir .. "(/.*)?" },
        { step = "overlays selinux" })
    end
  end
end

return M
