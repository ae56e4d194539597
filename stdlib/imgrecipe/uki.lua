--- Unified Kernel Images booted by systemd-boot (ALIC's `os.uki`,
--- alic-reference §4.10). For every kernel in /boot a UKI is assembled from
--- the image's systemd EFI stub, the kernel, its initrd, /etc/os-release and
--- its command line, and written where ALIC puts it: `EFI/Linux/<kernel>.efi`
--- on the ESP (`<kernel>` is the kernel's file name, `vmlinuz-<version>`).
--- The command line is the one grub.cfg boots the kernel with (ALIC reads it
--- the same way), so call this after every step that writes kernel
--- arguments, verity's `seal` included: the root hash ends up inside the UKI.
---
--- The command line goes where the image's stub reads it: with an addon stub
--- (`addonx64.efi.stub`, systemd 254 and later) into ALIC's addon
--- `EFI/Linux/<kernel>.efi.extra.d/<kernel>.addon.efi`, the main UKI having
--- none; with an older stub (Debian 12's systemd 252 cannot load addons)
--- into the main UKI's `.cmdline` section. `ukify` is used when the image
--- has it, otherwise the host's objcopy (`imgrecipe.host.uki`). systemd-boot
--- then replaces GRUB on the ESP (`EFI/systemd/systemd-bootx64.efi` and the
--- fallback `EFI/BOOT/BOOTX64.EFI`, `loader/loader.conf`), and /boot is
--- emptied as ALIC does (kernels, initrds and GRUB are inside the UKIs now).
---
---     local uki = require "imgrecipe.uki"
---     local built = uki.create(img, { work_dir = ctx.work_dir .. "/uki" })
---     print(built[1].path, built[1].cmdline)
---
--- On an image that already boots UKIs with addons, `uki.modify` (ALIC's
--- `mode: modify`) rebuilds only the addons with a changed command line and
--- leaves the main UKIs (kernel, initrd, signature) as they are.
-- @module imgrecipe.uki
local host = require "imgrecipe.host.uki"
local files = require "imgrecipe.host.files"
local sys = require "imgrecipe.host.sys"
local bootloader = require "imgrecipe.bootloader"
local grub = require "imgrecipe.grub"
local selinux = require "imgrecipe.selinux"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"

local M = {}

-- Host path of an image file, for the host's objcopy.
local function host_path(root, path) return files.resolve(root:_root(), path) end

--- Where the ESP is mounted in the image.
M.ESP = "/boot/efi"
--- The UKI directory of the ESP (systemd-boot's type #2 entries).
M.OUTPUT_DIR = "/EFI/Linux"
-- systemd-boot's own directory on the ESP.
local SYSTEMD_BOOT_DIR = "/EFI/systemd"

local STUB_DIRS = { "/usr/lib/systemd/boot/efi", "/lib/systemd/boot/efi" }
-- Per EFI architecture: stub, addon stub, systemd-boot, fallback loader name.
local ARCHES = {
  { stub = "linuxx64.efi.stub", addon = "addonx64.efi.stub", boot = "systemd-bootx64.efi", fallback = "BOOTX64.EFI" },
  { stub = "linuxaa64.efi.stub", addon = "addonaa64.efi.stub", boot = "systemd-bootaa64.efi", fallback = "BOOTAA64.EFI" },
}
local UKIFY = { "/usr/bin/ukify", "/usr/lib/systemd/ukify", "/lib/systemd/ukify" }

M.PACKAGES_HINT = "install the package that ships it (Debian/Ubuntu: 'systemd-boot-efi', pulled in by 'systemd-boot'; "
  .. "Fedora/Azure Linux: 'systemd-boot')"

---------------------------------------------------------------------------
-- Pure helpers
---------------------------------------------------------------------------

--- The kernels of a /boot listing with their initrd: `{kernel=, version=,
--- initrd=}` sorted by version, for `vmlinuz-<version>` files with an
--- `initramfs-<version>.img` (RPM distributions) or `initrd.img-<version>`
--- (Debian). A kernel without an initrd is an error, as in ALIC.
---@param names string[] entries of /boot
---@return {kernel: string, version: string, initrd: string}[]
function M.kernels(names)
  local present = {}
  for _, n in ipairs(names) do present[n] = true end
  local out = {}
  for _, n in ipairs(names) do
    local v = n:match("^vmlinuz%-(.+)$")
    if v and not v:match("%.efi$") then
      local initrd
      for _, candidate in ipairs({ "initramfs-" .. v .. ".img", "initrd.img-" .. v }) do
        if present[candidate] then initrd = candidate; break end
      end
      if not initrd then
        util.raise("usage", string.format("uki: missing initramfs for kernel (%s), expected /boot/initramfs-%s.img "
          .. "or /boot/initrd.img-%s", n, v, v))
      end
      out[#out + 1] = { kernel = n, version = v, initrd = initrd }
    end
  end
  table.sort(out, function(a, b) return a.version < b.version end)
  return out
end

--- The kernel command line of each kernel in a grub.cfg, by kernel file
--- name (`vmlinuz-<version>`): the arguments of its first `linux` line that
--- is not a recovery entry (`single` or `recovery`), arguments holding a GRUB
--- variable (`$vt_handoff`) left out, as ALIC reads them.
---@param text string grub.cfg
---@return table<string, string>
function M.grub_cmdlines(text)
  local out = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    -- GRUB's words unquoted (grub.grub_words), the kernel's own double quotes kept.
    local words = grub.grub_words(line)
    local cmd = words[1] and words[1].arg
    if (cmd == "linux" or cmd == "linuxefi" or cmd == "linux16") and words[2] then
      local kernel = words[2].arg:match("([^/]+)$")
      local args, recovery = {}, false
      for i = 3, #words do
        local w = words[i].arg
        if w == "single" or w == "recovery" then recovery = true end
        -- A GRUB variable: written unquoted or in double quotes.
        local variable = words[i].raw:find("$", 1, true) and not words[i].raw:match("^'[^']*'$")
        if not variable then args[#args + 1] = w end
      end
      if not recovery and out[kernel] == nil then out[kernel] = table.concat(args, " ") end
    end
  end
  return out
end

--- The command line of `kernel`: its own, else (ALIC's fallback) the one
--- command line every other kernel shares; an error when there is none or
--- they differ.
---@param cmdlines table<string, string> by kernel file name
---@param kernel string
---@return string
function M.cmdline_for(cmdlines, kernel)
  if cmdlines[kernel] then return cmdlines[kernel] end
  local distinct, list = {}, {}
  for _, c in pairs(cmdlines) do
    if c ~= "" and not distinct[c] then distinct[c] = true; list[#list + 1] = c end
  end
  table.sort(list)
  if #list == 0 then
    util.raise("usage", string.format("uki: no command line arguments found for kernel (%s) in grub.cfg and no fallback command line", kernel))
  end
  if #list > 1 then
    util.raise("usage", string.format("uki: no command line for kernel (%s), and the other kernels' differ: %s", kernel,
      table.concat(list, " | ")))
  end
  return list[1]
end

--- ESP paths (from the ESP's root) of the UKI and its addon for `kernel`.
---@param kernel string e.g. vmlinuz-6.1.0-28-cloud-amd64
---@return string uki, string addon
function M.paths(kernel)
  local uki = M.OUTPUT_DIR .. "/" .. kernel .. ".efi"
  return uki, uki .. ".extra.d/" .. kernel .. ".addon.efi"
end

local function contains(list, item)
  for _, v in ipairs(list) do
    if v == item then return true end
  end
  return false
end

--- The arguments of a kernel command line as a UKI's `.cmdline` section
--- holds it: trailing NUL padding dropped (objcopy pads a shorter section
--- with zeros), split at whitespace outside the kernel's own double quotes
--- (`foo="a b"` is one argument, its quotes kept).
---@param text string
---@return string[]
function M.split_cmdline(text)
  util.validate("text", text, "string")
  text = text:gsub("%z+$", "")
  local out, cur, quoted = {}, {}, false
  for c in text:gmatch(".") do
    if c == '"' then
      quoted = not quoted
      cur[#cur + 1] = c
    elseif not quoted and c:match("%s") then
      if #cur > 0 then out[#out + 1] = table.concat(cur); cur = {} end
    else
      cur[#cur + 1] = c
    end
  end
  if #cur > 0 then out[#out + 1] = table.concat(cur) end
  return out
end

---@class imgrecipe.UkiCmdlineEdits
---@field extra_args? string[] appended (os.kernelCommandLine.extraCommandLine); one already present is not repeated
---@field selinux_mode? string the SELinux arguments (security, selinux, enforcing) replaced by this mode's

--- A command line with `os.uki.mode: modify`'s changes, in ALIC's order
--- (alic-reference §4.2 steps 13 and 14): the extra arguments appended,
--- then the SELinux arguments replaced by those of the mode. The arguments
--- are checked as the config's extraCommandLine is (grub.check_kernel_args).
---@param text string the current command line (an addon's `.cmdline`)
---@param edits? imgrecipe.UkiCmdlineEdits
---@return string
function M.edit_cmdline(text, edits)
  util.validate("text", text, "string")
  util.check_options("uki.edit_cmdline", edits, { extra_args = "table", selinux_mode = "string" })
  edits = edits or {}
  local args = M.split_cmdline(text)
  local extra = edits.extra_args or {}
  grub.check_kernel_args(extra)
  for _, a in ipairs(extra) do
    if not contains(args, a) then args[#args + 1] = a end
  end
  if edits.selinux_mode then
    local kept = {}
    for _, a in ipairs(args) do
      if not contains(selinux.ARG_NAMES, a:match("^([^=]*)")) then kept[#kept + 1] = a end
    end
    for _, a in ipairs(selinux.kernel_args(edits.selinux_mode)) do kept[#kept + 1] = a end
    args = kept
  end
  return table.concat(args, " ")
end

--- The kernel files of a /boot listing that `passthrough` and `modify`
--- refuse (ALIC's guard): `vmlinuz-*` and `initramfs-*`, and Debian's
--- `initrd.img-*`.
---@param names string[] the files (not directories) of /boot
---@return string[]
function M.boot_kernel_files(names)
  local out = {}
  for _, n in ipairs(names) do
    if n:match("^vmlinuz%-") or n:match("^initramfs%-") or n:match("^initrd%.img%-") then out[#out + 1] = n end
  end
  table.sort(out)
  return out
end

--- systemd-boot's loader.conf: boot the newest UKI at once; no editing of
--- the command line at the menu (the command line is the UKI's).
M.LOADER_CONF = "timeout 0\neditor no\n"

---------------------------------------------------------------------------
-- On an image
---------------------------------------------------------------------------

--- Whether the image's ESP holds UKIs (`EFI/Linux/*.efi`).
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@return boolean
function M.has_ukis(root)
  for _, name in ipairs(root:list_dir(M.ESP .. M.OUTPUT_DIR) or {}) do
    if name:match("%.efi$") then return true end
  end
  return false
end

--- Whether systemd-boot is installed on the ESP (`EFI/systemd/systemd-boot*.efi`,
--- where `uki.install_systemd_boot` puts it).
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@return boolean
function M.has_systemd_boot(root)
  for _, name in ipairs(root:list_dir(M.ESP .. SYSTEMD_BOOT_DIR) or {}) do
    if name:match("^systemd%-boot.*%.efi$") then return true end
  end
  return false
end

--- ALIC's checks of `os.uki.mode` against the base image (validateUkiMode):
--- a base with UKIs needs a mode; passthrough and modify need a base with
--- UKIs. `mode` is nil when os.uki is absent, "" when it has no mode.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@param mode? string
function M.check_mode(root, mode)
  local has = M.has_ukis(root)
  if not has then
    if mode == "passthrough" then
      util.raise("usage", "base image does not contain UKIs but os.uki.mode is set to 'passthrough': cannot passthrough "
        .. "UKIs when base image has no UKIs. Use mode: create to create UKIs, or omit os.uki entirely")
    elseif mode == "modify" then
      util.raise("usage", "base image does not contain UKIs but os.uki.mode is set to 'modify': cannot modify UKIs when "
        .. "base image has no UKIs. Use mode: create to create UKIs from GRUB-based image")
    end
    return
  end
  if mode == nil then
    util.raise("usage", "base image contains UKI files but os.uki is not specified: when base image has UKIs, you must "
      .. "explicitly specify how to handle them using os.uki.mode ('create', 'passthrough' or 'modify')")
  elseif mode == "" then
    util.raise("usage", "base image contains UKI files but os.uki.mode is not specified: when base image has UKIs, you "
      .. "must explicitly set mode to 'create', 'passthrough', or 'modify'")
  elseif mode == "modify" then
    local any = false
    for _, u in ipairs(M.list(root)) do any = any or root:exists(u.addon) end
    if not any then
      util.raise("usage", "base image has UKI without addons (combined architecture) but os.uki.mode is set to 'modify': "
        .. "modify mode requires UKI addon architecture where kernel cmdline is in addon file (" .. M.ESP .. M.OUTPUT_DIR
        .. "/<kernel>.efi.extra.d/<kernel>.addon.efi). Use mode: create to regenerate UKIs with addon architecture")
    end
  end
end

--- The UKIs on the ESP (`EFI/Linux/*.efi`, sorted), each with the path of
--- ALIC's addon for it, whether it exists or not: `{kernel=, path=, addon=}`
--- (`kernel` is the file name less `.efi`; paths in the image).
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@return {kernel: string, path: string, addon: string}[]
function M.list(root)
  local out = {}
  for _, name in ipairs(root:list_dir(M.ESP .. M.OUTPUT_DIR) or {}) do
    local kernel = name:match("^(.+)%.efi$")
    if kernel then
      local uki, addon = M.paths(kernel)
      out[#out + 1] = { kernel = kernel, path = M.ESP .. uki, addon = M.ESP .. addon }
    end
  end
  table.sort(out, function(a, b) return a.kernel < b.kernel end)
  return out
end

-- The .cmdline section of a PE file of the image without its NUL padding
-- and surrounding spaces; nil when it has none. Only that section is read.
local function cmdline_section(root, path)
  local file = host_path(root, path)
  for _, s in ipairs(host.read_pe(file).sections) do
    if s.name == ".cmdline" then return (host.read_section(file, ".cmdline"):gsub("%z+$", ""):match("^%s*(.-)%s*$")) end
  end
end

--- The command line systemd-boot boots a UKI of `uki.list` with: the UKI's
--- own `.cmdline`, then its addons' (`<uki>.extra.d/*.addon.efi`, in name
--- order, as systemd-boot loads them), each trimmed; nil when none has one.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@param u {path: string}
---@return string|nil
function M.boot_cmdline(root, u)
  local parts = {}
  local function add(path)
    local text = cmdline_section(root, path)
    if text and text ~= "" then parts[#parts + 1] = text end
  end
  add(u.path)
  local dir = u.path .. ".extra.d"
  local addons = {}
  for _, name in ipairs(root:list_dir(dir) or {}) do
    local st = name:match("%.addon%.efi$") and root:stat(dir .. "/" .. name)
    if st and st.type ~= "directory" then addons[#addons + 1] = name end
  end
  table.sort(addons)
  for _, name in ipairs(addons) do add(dir .. "/" .. name) end
  return #parts > 0 and table.concat(parts, " ") or nil
end

-- The .cmdline of an addon of the image, trimmed (ALIC: NUL padding, then spaces).
local function addon_cmdline(root, u)
  if not root:exists(u.addon) then
    util.raise("usage", string.format("uki: the UKI %s has no addon: expected %s (os.uki.mode 'modify' rebuilds only "
      .. "the addon that holds the command line; use mode: create to rebuild the UKIs)", u.path, u.addon))
  end
  local text = cmdline_section(root, u.addon)
  if not text then util.raise("usage", string.format("uki: the addon %s has no .cmdline section", u.addon)) end
  return table.concat(M.split_cmdline(text), " ")
end

--- The command line of each UKI's addon, by kernel (ALIC's UKI preparation
--- for `modify`, before the packages): a `usage` error naming the UKI whose
--- addon is missing.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@return table<string, string>
function M.addon_cmdlines(root)
  local out = {}
  for _, u in ipairs(M.list(root)) do out[u.kernel] = addon_cmdline(root, u) end
  return out
end

--- ALIC's guard for `passthrough` and `modify`, which keep the kernels and
--- initramfs inside the base image's UKIs: a `usage` error when /boot has a
--- kernel or initramfs (installed by this build, e.g. by a kernel package),
--- which would not be booted.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@param mode string "passthrough" or "modify", for the message
function M.check_boot_kernels(root, mode)
  local names = {}
  for _, n in ipairs(root:list_dir("/boot") or {}) do
    local st = root:stat("/boot/" .. n)
    if not (st and st.type == "directory") then names[#names + 1] = n end
  end
  local found = M.boot_kernel_files(names)
  if #found > 0 then
    util.raise("usage", string.format("kernel binaries detected in /boot (%s): os.uki.mode '%s' keeps the kernel and "
      .. "initramfs inside the base image's UKIs, so they would not be booted. Use 'mode: create' to regenerate UKIs "
      .. "with updated kernels", table.concat(found, ", "), tostring(mode)))
  end
end

---@class imgrecipe.UkiTools
---@field stub string the EFI stub (path in the image)
---@field addon_stub? string the addon stub, when the image's systemd has one
---@field systemd_boot string systemd-boot's EFI binary
---@field fallback string the ESP's fallback loader name (BOOTX64.EFI)
---@field ukify? string ukify in the image

--- What the image provides to build UKIs and boot them: the stub and
--- systemd-boot from the image's systemd (a `usage` error naming the
--- packages when missing), ukify if present.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@return imgrecipe.UkiTools
function M.tools(root)
  for _, a in ipairs(ARCHES) do
    for _, dir in ipairs(STUB_DIRS) do
      if root:exists(dir .. "/" .. a.stub) then
        local t = { stub = dir .. "/" .. a.stub, fallback = a.fallback }
        if root:exists(dir .. "/" .. a.addon) then t.addon_stub = dir .. "/" .. a.addon end
        if root:exists(dir .. "/" .. a.boot) then t.systemd_boot = dir .. "/" .. a.boot end
        if not t.systemd_boot then
          util.raise("usage", string.format("uki: the image has the EFI stub %s but no systemd-boot (%s/%s): %s",
            t.stub, dir, a.boot, M.PACKAGES_HINT))
        end
        for _, u in ipairs(UKIFY) do
          if root:exists(u) then t.ukify = u; break end
        end
        return t
      end
    end
  end
  util.raise("usage", string.format("uki: the image has no systemd EFI stub (%s/%s), which UKIs are built from: %s",
    STUB_DIRS[1], ARCHES[1].stub, M.PACKAGES_HINT))
end

-- One UKI or addon with the image's ukify, run in the image (paths are the image's).
local function ukify_build(root, t, args)
  local argv = { t.ukify, "build" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  root:run(argv, { network = false })
end

local write_host = util.write_host

-- Builds the command-line addon `addon` (path in the image, absent) holding
-- `cmdline`, from t.addon_stub: with the image's ukify when t.ukify is set,
-- else assembled on the host in a scratch directory under `work_dir`.
local function build_addon(root, t, addon, cmdline, work_dir)
  if t.ukify then
    local cmdfile = "/tmp/imgrecipe-uki-cmdline"
    root:write_file(cmdfile, cmdline)
    ukify_build(root, t, { "--cmdline=@" .. cmdfile, "--stub=" .. t.addon_stub, "--output=" .. addon })
    root:remove(cmdfile)
  else
    local dir = work_dir .. "/" .. addon:match("([^/]+)$")
    sys.mkdir(dir)  -- parents included
    local file, built = dir .. "/cmdline", dir .. "/addon.efi"
    write_host(file, cmdline)
    host.assemble(host_path(root, t.addon_stub), { { name = ".cmdline", file = file } }, built)
    root:copy_file(built, addon, { mode = "0644" })
    os.remove(file)
    os.remove(built)
    os.remove(dir)
  end
end

---@class imgrecipe.UkiOpts
---@field work_dir string host directory for the section files and the UKIs before they are copied to the ESP
---@field cmdlines? table<string, string> command line by kernel file name; default: read from grub.cfg
---@field install_loader? boolean install systemd-boot on the ESP (default true)
---@field clean_boot? boolean empty /boot afterwards as ALIC does (default true)

---@class imgrecipe.UkiBuilt
---@field kernel string kernel file name (vmlinuz-<version>)
---@field version string
---@field path string the UKI, path in the image
---@field addon? string its command-line addon, path in the image
---@field cmdline string the command line it boots with
---@field tool string "ukify" or "objcopy"

--- Builds a UKI for every kernel in /boot of `root` (the ESP mounted at
--- /boot/efi), removing the ESP's old UKIs first, then installs systemd-boot
--- and empties /boot (both unless told not to).
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted, writable /boot and ESP
---@param opts imgrecipe.UkiOpts
---@return imgrecipe.UkiBuilt[]
function M.create(root, opts)
  util.validate("opts", opts, "table")
  util.check_options("uki.create", opts,
    { work_dir = "string", cmdlines = "table", install_loader = "boolean", clean_boot = "boolean" }, { "work_dir" })
  local t = M.tools(root)
  local esp = false
  for _, m in ipairs(root:mounts()) do esp = esp or m.target == M.ESP end
  if not esp then util.raise("usage", "uki: no ESP mounted at " .. M.ESP .. " (the image's fstab has no /boot/efi)") end
  local kernels = M.kernels(root:list_dir("/boot") or {})
  if #kernels == 0 then util.raise("usage", "uki: no kernel images (vmlinuz-*) found in /boot") end
  local cmdlines = opts.cmdlines
  if not cmdlines then
    local cfg = bootloader.layout(root).config
    local text = root:read_file(cfg)
    if not text then util.raise("usage", string.format("uki: %s is missing: it holds the kernel command line", cfg)) end
    cmdlines = M.grub_cmdlines(text)
  end
  local osrel_path = root:exists("/etc/os-release") and "/etc/os-release" or "/usr/lib/os-release"
  local osrel = root:read_file(osrel_path) or util.raise("usage", "uki: the image has no os-release")
  -- Old UKIs go first (ALIC cleans EFI/Linux).
  for _, name in ipairs(root:list_dir(M.ESP .. M.OUTPUT_DIR) or {}) do
    local p = M.ESP .. M.OUTPUT_DIR .. "/" .. name
    if name:match("%.efi$") then root:remove(p)
    elseif name:match("%.efi%.extra%.d$") then
      for _, a in ipairs(root:list_dir(p) or {}) do root:remove(p .. "/" .. a) end
      root:remove(p)
    end
  end
  root:mkdir(M.ESP .. M.OUTPUT_DIR)
  local built = {}
  for _, k in ipairs(kernels) do
    local cmdline = M.cmdline_for(cmdlines, k.kernel)
    local uki, addon = M.paths(k.kernel)
    uki = M.ESP .. uki
    addon = t.addon_stub and (M.ESP .. addon) or nil
    local kernel, initrd = "/boot/" .. k.kernel, "/boot/" .. k.initrd
    local tool
    if t.ukify then
      tool = "ukify"
      local cmdfile = "/tmp/imgrecipe-uki-cmdline"
      root:write_file(cmdfile, cmdline)
      local main = { "--linux=" .. kernel, "--initrd=" .. initrd, "--os-release=@" .. osrel_path,
                     "--uname=" .. k.version, "--stub=" .. t.stub, "--output=" .. uki }
      if not addon then main[#main + 1] = "--cmdline=@" .. cmdfile end
      ukify_build(root, t, main)
      root:remove(cmdfile)
      if addon then
        root:mkdir(util.dirname(addon))
        build_addon(root, t, addon, cmdline, opts.work_dir)
      end
    else
      tool = "objcopy"
      local dir = opts.work_dir .. "/" .. k.version
      sys.mkdir(dir)  -- parents included
      write_host(dir .. "/osrel", osrel)
      write_host(dir .. "/uname", k.version)
      write_host(dir .. "/cmdline", cmdline)
      local sections = { { name = ".osrel", file = dir .. "/osrel" } }
      if not addon then sections[#sections + 1] = { name = ".cmdline", file = dir .. "/cmdline" } end
      sections[#sections + 1] = { name = ".uname", file = dir .. "/uname" }
      sections[#sections + 1] = { name = ".initrd", file = host_path(root, initrd) }
      sections[#sections + 1] = { name = ".linux", file = host_path(root, kernel) }
      host.assemble(host_path(root, t.stub), sections, dir .. "/uki.efi")
      root:copy_file(dir .. "/uki.efi", uki, { mode = "0644" })
      if addon then
        root:mkdir(util.dirname(addon))
        build_addon(root, t, addon, cmdline, opts.work_dir)
      end
      for _, f in ipairs({ "osrel", "uname", "cmdline", "uki.efi" }) do os.remove(dir .. "/" .. f) end
      os.remove(dir)
    end
    log.info("%s (%s, %s): %s", uki, tool, addon and "command line in " .. addon or "command line inside", cmdline)
    built[#built + 1] = { kernel = k.kernel, version = k.version, path = uki, addon = addon, cmdline = cmdline, tool = tool }
  end
  if opts.install_loader ~= false then M.install_systemd_boot(root, t) end
  if opts.clean_boot ~= false then M.clean_boot(root) end
  return built
end

-- The stub to rebuild addons with: the image's addon stub, else (as ALIC)
-- its main stub; ukify if the image has it.
local function addon_tools(root)
  for _, a in ipairs(ARCHES) do
    for _, dir in ipairs(STUB_DIRS) do
      local stub
      if root:exists(dir .. "/" .. a.addon) then
        stub = dir .. "/" .. a.addon
      elseif root:exists(dir .. "/" .. a.stub) then
        stub = dir .. "/" .. a.stub
        log.info("uki: no addon stub %s/%s in the image: the addons are built from the main stub %s", dir, a.addon, stub)
      end
      if stub then
        local t = { addon_stub = stub }
        for _, u in ipairs(UKIFY) do
          if root:exists(u) then t.ukify = u; break end
        end
        return t
      end
    end
  end
  util.raise("usage", string.format("uki: the image has no systemd EFI stub (%s/%s or %s), which addons are built "
    .. "from: %s", STUB_DIRS[1], ARCHES[1].addon, ARCHES[1].stub, M.PACKAGES_HINT))
end

---@class imgrecipe.UkiModifyOpts
---@field work_dir string host directory for the section file and the addon before it is copied to the ESP
---@field cmdlines? table<string, string> the command line to start from, by kernel (UKI name less .efi); default: each addon's own, read now (uki.addon_cmdlines)
---@field extra_args? string[] kernel arguments appended (one already present is not repeated)
---@field selinux_mode? string disabled|permissive|enforcing|force-enforcing: the SELinux arguments replaced

---@class imgrecipe.UkiModified
---@field kernel string the UKI's name less .efi (vmlinuz-<version>)
---@field path string the UKI, path in the image (not changed)
---@field addon string its addon, path in the image (rebuilt)
---@field old_cmdline string the command line it started from
---@field cmdline string the addon's new command line
---@field tool string "ukify" or "objcopy"

--- `os.uki.mode: modify` (alic-reference §4.10): for every UKI on the ESP
--- (`EFI/Linux/*.efi`), rebuilds only its addon
--- (`<uki>.extra.d/<kernel>.addon.efi`) with the new command line
--- (edit_cmdline of the old one), from the image's addon stub (its main
--- stub without one, as ALIC), with the image's ukify when present, else
--- the host's objcopy. The main UKIs are not written: kernel, initrd and
--- any signature stay as they are. A UKI without an addon is an error
--- naming it, and so is a kernel or initramfs in /boot (check_boot_kernels:
--- it would not be booted). The image's stub must load addons (systemd 254
--- and later) for the new command line to take effect at boot.
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted, writable ESP
---@param opts imgrecipe.UkiModifyOpts
---@return imgrecipe.UkiModified[]
function M.modify(root, opts)
  util.validate("opts", opts, "table")
  util.check_options("uki.modify", opts,
    { work_dir = "string", cmdlines = "table", extra_args = "table", selinux_mode = "string" }, { "work_dir" })
  M.check_boot_kernels(root, "modify")
  local ukis = M.list(root)
  if #ukis == 0 then
    util.raise("usage", string.format("uki: no UKIs (%s%s/*.efi) to modify", M.ESP, M.OUTPUT_DIR))
  end
  local edits = { extra_args = opts.extra_args, selinux_mode = opts.selinux_mode }
  -- Every addon is checked before one is written.
  local plan = {}
  for _, u in ipairs(ukis) do
    local old = (opts.cmdlines or {})[u.kernel]
    if old == nil or not root:exists(u.addon) then old = addon_cmdline(root, u) end
    plan[#plan + 1] = { u = u, old = old, new = M.edit_cmdline(old, edits) }
  end
  local t = addon_tools(root)
  local out = {}
  for _, p in ipairs(plan) do
    local u, tool = p.u, t.ukify and "ukify" or "objcopy"
    root:remove(u.addon)
    build_addon(root, t, u.addon, p.new, opts.work_dir)
    log.info("%s rebuilt (%s, %s unchanged): %s", u.addon, tool, u.path, p.new)
    out[#out + 1] = { kernel = u.kernel, path = u.path, addon = u.addon, old_cmdline = p.old, cmdline = p.new, tool = tool }
  end
  return out
end

--- Installs systemd-boot on the ESP from the image's files (no firmware
--- variables are written: the fallback path boots it): `EFI/systemd/`,
--- `EFI/BOOT/BOOTX64.EFI` (replacing GRUB's or shim's) and
--- `loader/loader.conf` (`M.LOADER_CONF`).
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@param t? imgrecipe.UkiTools default M.tools(root)
function M.install_systemd_boot(root, t)
  t = t or M.tools(root)
  local src = host_path(root, t.systemd_boot)
  local name = t.systemd_boot:match("([^/]+)$")
  root:mkdir(M.ESP .. SYSTEMD_BOOT_DIR)
  root:copy_file(src, M.ESP .. SYSTEMD_BOOT_DIR .. "/" .. name, { mode = "0644" })
  -- FAT is case-insensitive: reuse the existing entry's spelling.
  local boot_dir = M.ESP .. "/EFI/BOOT"
  for _, d in ipairs(root:list_dir(M.ESP .. "/EFI") or {}) do
    if d:upper() == "BOOT" then boot_dir = M.ESP .. "/EFI/" .. d end
  end
  root:mkdir(boot_dir)
  local fallback = boot_dir .. "/" .. t.fallback
  for _, f in ipairs(root:list_dir(boot_dir) or {}) do
    if f:upper() == t.fallback then fallback = boot_dir .. "/" .. f end
  end
  root:copy_file(src, fallback, { mode = "0644" })
  root:write_file(M.ESP .. "/loader/loader.conf", M.LOADER_CONF, { mode = "0644" })
  log.info("systemd-boot installed on the ESP (%s and %s)", M.ESP .. SYSTEMD_BOOT_DIR .. "/" .. name, fallback)
end

-- Removes a tree of the image (no mount crossed: /boot's content only).
local function remove_tree(root, path)
  local st = root:stat(path)
  if st and st.type == "directory" then
    for _, e in ipairs(root:list_dir(path) or {}) do remove_tree(root, path .. "/" .. e) end
  end
  root:remove(path)
end

--- Empties /boot as ALIC does once UKIs hold the kernels: everything but
--- the ESP's mount point and lost+found.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
function M.clean_boot(root)
  for _, e in ipairs(root:list_dir("/boot") or {}) do
    if "/boot/" .. e ~= M.ESP and e ~= "lost+found" then remove_tree(root, "/boot/" .. e) end
  end
end

--- The sections of a UKI file on the host, by name (`ukify inspect`): the
--- text sections' contents and every section's size.
---@param path string host path
---@return table<string, {size: integer, rva: integer, text?: string}>
function M.inspect(path)
  local pe = host.read_pe(path)
  local out = {}
  for _, s in ipairs(pe.sections) do
    local e = { size = s.virtual_size, rva = s.rva }
    if s.name == ".cmdline" or s.name == ".osrel" or s.name == ".uname" or s.name == ".sbat" then
      e.text = host.read_section(path, s.name)
    end
    out[s.name] = e
  end
  return out
end

return M
