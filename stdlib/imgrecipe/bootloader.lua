--- Bootloader configuration reset (ALIC's `os.bootloader.resetType:
--- hard-reset`, alic-reference §4.6): /etc/default/grub is rewritten from a
--- template carrying the SELinux and extra kernel arguments, and grub.cfg is
--- regenerated the distribution's own way, in the image.
-- @module imgrecipe.bootloader
local grub = require "imgrecipe.grub"
local osrelease = require "imgrecipe.osrelease"
local selinux = require "imgrecipe.selinux"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"

local M = {}

M.DEFAULT_GRUB = "/etc/default/grub"

-- An empty GRUB environment block (grub-editenv's format: 1024 bytes).
local HEADER = "# GRUB Environment Block\n"
M.EMPTY_GRUBENV = HEADER .. string.rep("#", 1024 - #HEADER)

local function find_tool(img, name) return util.find_program(img, name) end

---@class imgrecipe.GrubLayout
---@field mkconfig string path of grub-mkconfig or grub2-mkconfig in the image
---@field config string the grub.cfg it writes
---@field family string "debian" | "rpm"
---@field os_id? string os-release ID

-- In the order they are tried.
local MKCONFIGS = { { "grub2-mkconfig", "/boot/grub2/grub.cfg" }, { "grub-mkconfig", "/boot/grub/grub.cfg" } }

--- How the image's distribution generates grub.cfg: RPM distributions ship
--- grub2-mkconfig writing /boot/grub2/grub.cfg, Debian and Ubuntu
--- grub-mkconfig writing /boot/grub/grub.cfg.
---@param img imgrecipe.Image
---@return imgrecipe.GrubLayout
function M.layout(img)
  for _, m in ipairs(MKCONFIGS) do
    local tool = find_tool(img, m[1])
    if tool then
      local vars = osrelease.read(img)
      return { mkconfig = tool, config = m[2], family = osrelease.family(vars), os_id = vars.ID }
    end
  end
  util.raise("config", "bootloader hard-reset: neither grub2-mkconfig nor grub-mkconfig is installed in the image "
    .. "(Debian/Ubuntu: package grub-common; RPM distributions: grub2-tools)")
end

local function join(words)
  local t = {}
  for _, w in ipairs(words) do
    if w ~= "" then t[#t + 1] = w end
  end
  return table.concat(t, " ")
end

local function check_arg(a)
  if type(a) ~= "string" or a == "" then
    util.raise("usage", string.format("kernel argument %q cannot be written to %s", tostring(a), M.DEFAULT_GRUB))
  end
  grub.check_kernel_args({ a })
end

--- /etc/default/grub for a hard reset. `family` picks the template: Debian's
--- layout, or ALIC's Azure Linux 3 template for RPM distributions (whose
--- fixed arguments apply to Azure Linux only).
---@param opts {family: string, os_id?: string, selinux_args: string[], extra_args: string[]}
---@return string
function M.default_grub_text(opts)
  util.check_options("bootloader.default_grub_text", opts, { "family", "os_id", "selinux_args", "extra_args" })
  for _, a in ipairs(opts.selinux_args) do check_arg(a) end
  for _, a in ipairs(opts.extra_args) do check_arg(a) end
  local lines = {
    "# Written by imgrecipe (bootloader hard-reset); regenerate grub.cfg after changing it.",
  }
  -- Escaped for the template's "..." and for the grub.cfg grub-mkconfig writes.
  local linux, default = grub.default_var_value(opts.selinux_args), grub.default_var_value(opts.extra_args)
  if opts.family == "debian" then
    lines[#lines + 1] = "GRUB_DEFAULT=0"
    lines[#lines + 1] = "GRUB_TIMEOUT=0"
    lines[#lines + 1] = "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`"
  else
    local azl = opts.os_id == "azurelinux" or opts.os_id == "mariner"
    if azl then linux = join({ linux, "rd.auto=1 net.ifnames=0 lockdown=integrity" }) end
    default = join({ default, azl and "\\$kernelopts" or "" })
    lines[#lines + 1] = "GRUB_TIMEOUT=0"
    lines[#lines + 1] = 'GRUB_DISTRIBUTOR="$(sed \'s, release .*$,,g\' /etc/system-release 2>/dev/null || echo Linux)"'
  end
  lines[#lines + 1] = "GRUB_DISABLE_SUBMENU=y"
  lines[#lines + 1] = 'GRUB_TERMINAL_OUTPUT="console"'
  lines[#lines + 1] = string.format('GRUB_CMDLINE_LINUX="%s"', linux)
  lines[#lines + 1] = string.format('GRUB_CMDLINE_LINUX_DEFAULT="%s"', default)
  -- os-prober would add the build host's systems to the image's menu.
  lines[#lines + 1] = "GRUB_DISABLE_OS_PROBER=true"
  return table.concat(lines, "\n") .. "\n"
end

---@class imgrecipe.HardResetOpts
---@field extra_args? string[] extra kernel arguments (GRUB_CMDLINE_LINUX_DEFAULT)
---@field selinux_mode? string the SELinux mode to boot with; default: the image's current mode
---@field keep_args? boolean keep the arguments of the image's /etc/default/grub (default false here; `img:reset_bootloader` defaults to true)

-- SELinux arguments come from the mode the reset boots with, never from the
-- old file.
local function selinux_word(w)
  return w:match("^selinux=") or w:match("^enforcing=") or w:match("^security=")
end

--- The kernel arguments of the image's /etc/default/grub that a reset keeps:
--- `{linux=, default=}` (GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT),
--- without the SELinux ones and without words the template cannot hold
--- (shell expansions such as `$kernelopts`, which the template adds itself).
---@param img imgrecipe.Image
---@return {linux: string[], default: string[]}
function M.existing_args(img)
  local text = img:read_file(M.DEFAULT_GRUB) or ""
  local out = {}
  for key, var in pairs({ linux = "GRUB_CMDLINE_LINUX", default = "GRUB_CMDLINE_LINUX_DEFAULT" }) do
    out[key] = {}
    for _, w in ipairs(grub.default_var_words(text, var) or {}) do
      if w:find('["\\`$]') then
        log.warn("bootloader reset: %s of %s not kept (%s): the template cannot hold it", w, M.DEFAULT_GRUB, var)
      elseif not selinux_word(w) then
        out[key][#out[key] + 1] = w
      end
    end
  end
  return out
end

-- `a` then the words of `b` not in `a`.
local function merged(a, b)
  local seen, out = {}, {}
  for _, list in ipairs({ a, b }) do
    for _, w in ipairs(list) do
      if not seen[w] then
        seen[w], out[#out + 1] = true, w
      end
    end
  end
  return out
end

--- Regenerates the boot configuration from scratch: /etc/default/grub from
--- the template, an empty grubenv, then grub-mkconfig (grub2-mkconfig)
--- in the image, with the image's partitions visible in its /dev so
--- grub-probe finds the root filesystem (root=UUID=...).
---@param img imgrecipe.Image
---@param opts? imgrecipe.HardResetOpts
---@return string config the regenerated grub.cfg path
function M.hard_reset(img, opts)
  util.check_options("bootloader.hard_reset", opts, { "extra_args", "selinux_mode", "keep_args" })
  opts = opts or {}
  util.validate("extra_args", opts.extra_args, "table", true)
  util.validate("keep_args", opts.keep_args, "boolean", true)
  local layout = M.layout(img)
  local mode = opts.selinux_mode
  if mode == nil or mode == "" then mode = selinux.current_mode(img) end
  local selinux_args, extra_args = selinux.kernel_args(mode), opts.extra_args or {}
  if opts.keep_args then
    local old = M.existing_args(img)
    selinux_args = merged(old.linux, selinux_args)
    extra_args = merged(old.default, extra_args)
  end
  local text = M.default_grub_text({
    family = layout.family, os_id = layout.os_id, selinux_args = selinux_args, extra_args = extra_args,
  })
  img:write_file(M.DEFAULT_GRUB, text, { mode = "0644" })
  img:write_file(util.dirname(layout.config) .. "/grubenv", M.EMPTY_GRUBENV, { mode = "0644" })
  img:run({ layout.mkconfig, "-o", layout.config }, { env = { GRUB_DISABLE_OS_PROBER = "true" }, network = false })
  local cfg = img:read_file(layout.config)
  if not cfg or not grub.is_generated(cfg) then
    util.raise("command", string.format("%s did not write %s", layout.mkconfig, layout.config))
  end
  local args = grub.first_kernel_args(cfg)
  if not args then
    util.raise("config", string.format("%s has no boot entry: is a kernel installed in /boot?", layout.config))
  end
  log.info("%s regenerated by %s; kernel arguments: %s", layout.config, layout.mkconfig, table.concat(args, " "))
  return layout.config
end

return M
