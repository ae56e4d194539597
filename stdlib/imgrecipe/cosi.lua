--- COSI output (alic-reference.md §3.1, as ALIC 1.7 writes it): the disk as
--- an uncompressed tar of `cosi-marker`, `metadata.json`, the primary GPT
--- region and one zstd image per partition, for a provisioning agent to
--- stream onto a machine's disk; and ALIC's baremetal-image, the same tar
--- padded to 1 MiB with a fixed-VHD footer appended. docs/cosi.md.
---
---     local cosi = require "imgrecipe.cosi"
---     local img = ctx:open(ctx.params.input)
---     img:mount()
---     -- ... customize ...
---     cosi.write(img, ctx.params.output, { level = 9 })
---     -- or: cosi.write(img, "disk.vhd", { format = "baremetal-image" })
-- @module imgrecipe.cosi
local host = require "imgrecipe.host.cosi"
local osrelease = require "imgrecipe.osrelease"
local image = require "imgrecipe.image"
local log = require "imgrecipe.host.log"
local util = require "imgrecipe.util"
local uki = require "imgrecipe.uki"

local validate = util.validate

local M = {}

--- ALIC's defaults per output format. baremetal-image keeps the 2^27 window
--- (ALIC: --long=31; see docs/cosi.md "Window and memory" for why).
M.DEFAULTS = {
  cosi = { level = 9, window_log = 27 },
  ["baremetal-image"] = { level = 22, window_log = 27 },
}

-- ELF e_machine values of the architectures COSI names (uname -m spelling,
-- arm64 as ALIC writes it).
local ELF_MACHINES = { [0x3e] = "x86_64", [0xb7] = "arm64" }
local ELF_PROBES = { "/usr/bin/env", "/bin/sh", "/usr/bin/sh", "/sbin/init" }

local function is_disk(target)
  return getmetatable(target) == require("imgrecipe.disk").Disk
end

-- The object whose file and command methods act on the mounted OS.
local function root_of(target)
  if is_disk(target) then return target:root() end
  return target
end

--- A compression level given as text (a CLI flag or recipe parameter):
--- nil stays nil, else a whole number from 1 to 22 or a usage error naming
--- `what`.
---@param text string|number|nil
---@param what string how the user spelled it, e.g. "--cosi-compression-level"
---@return integer|nil
function M.parse_level(text, what)
  if text == nil then return nil end
  local n = tonumber(text)
  if not n or n ~= math.floor(n) or n < 1 or n > 22 then
    util.raise("usage", string.format("%s %s: expected a whole number from 1 to 22", what, tostring(text)))
  end
  return n
end

--- The OS architecture from the ELF header of a program in the image.
---@param root imgrecipe.Image
---@return string
function M.arch(root)
  for _, path in ipairs(ELF_PROBES) do
    local data = root:exists(path) and root:read_file(path)
    if data and data:sub(1, 4) == "\127ELF" and #data >= 20 then
      local lo, hi = data:byte(19, 20)
      if data:byte(6) == 2 then lo, hi = hi, lo end  -- big-endian ELF
      local arch = ELF_MACHINES[lo + 256 * hi]
      if arch then return arch end
      util.raise("unsupported", string.format("COSI: %s is built for ELF machine %d, not x86_64 or arm64",
        path, lo + 256 * hi))
    end
  end
  util.raise("usage", "COSI: cannot tell the image's architecture (no ELF program at "
    .. table.concat(ELF_PROBES, ", ") .. "): give opts.arch")
end

--- Packages of a dpkg status file, as `dpkg-query -W` lists them (every
--- package not purged, sorted by name): `{name=, version=, release="", arch=}`,
--- and the set of names fully installed.
---@param text string /var/lib/dpkg/status
---@return table[] packages
---@return table<string, boolean> installed
function M.parse_dpkg_status(text)
  local list, installed = {}, {}
  for stanza in (text .. "\n\n"):gmatch("(.-)\n\n+") do
    local f = {}
    for line in stanza:gmatch("[^\n]+") do
      local k, v = line:match("^([%w%-]+):[ \t]*(.-)[ \t]*$")  -- continuation lines start with a space
      if k then f[k] = v end
    end
    if f.Package and f.Status and not f.Status:match("not%-installed$") then
      list[#list + 1] = { name = f.Package, version = f.Version or "", release = "", arch = f.Architecture or "" }
      if f.Status:match("^install ok installed$") or f.Status:match(" installed$") then installed[f.Package] = true end
    end
  end
  table.sort(list, function(a, b)
    if a.name ~= b.name then return a.name < b.name end
    return a.arch < b.arch
  end)
  return list, installed
end

--- Packages of `rpm -qa --queryformat '%{NAME} %{VERSION} %{RELEASE} %{ARCH}\n'` output.
---@param text string
---@return table[]
function M.parse_rpm_qa(text)
  local list = {}
  for line in text:gmatch("[^\n]+") do
    local name, version, release, arch = line:match("^(%S+) (%S+) (%S+) (%S+)$")
    if not name then util.raise("command", string.format("COSI: malformed rpm -qa line %q", line)) end
    list[#list + 1] = { name = name, version = version, release = release, arch = arch }
  end
  return list
end

local function has_rpm(root)
  return util.find_program(root, "rpm") ~= nil
end

--- The installed packages: from /var/lib/dpkg/status on Debian-family
--- images, else from the image's own `rpm -qa`.
---@param root imgrecipe.Image
---@return table[] packages
---@return table<string, boolean> installed names
function M.packages(root)
  local family = osrelease.family(osrelease.read(root))
  local status = root:read_file("/var/lib/dpkg/status")
  if status and (family == "debian" or not has_rpm(root)) then return M.parse_dpkg_status(status) end
  if not has_rpm(root) then
    util.raise("usage", "COSI: cannot list the packages: the image has neither /var/lib/dpkg/status nor rpm "
      .. "(add the rpm package)")
  end
  local r = root:run({ "rpm", "-qa", "--queryformat", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}\\n" },
    { quiet = true, step = "cosi packages" })
  local list = M.parse_rpm_qa(table.concat(r.output, "\n"))
  local installed = {}
  for _, p in ipairs(list) do installed[p.name] = true end
  return list, installed
end

-- ALIC's per-distribution GRUB EFI packages (Azure Linux, Fedora, Ubuntu),
-- plus Debian's grub-efi-*-bin, which hold the same EFI binaries without
-- grub-install's package hooks (the test images and debootstrap-made images
-- have only those).
local GRUB_PACKAGES = {
  "grub2-efi-binary", "grub2-efi-binary-noprefix", "grub2-efi-x64", "grub2-efi-aa64",
  "grub-efi", "grub-efi-amd64", "grub-efi-arm64", "grub-efi-amd64-bin", "grub-efi-arm64-bin",
}

--- systemd-boot entries of /boot/loader/entries/*.conf, as ALIC reads them.
---@param root imgrecipe.Image
---@return table[]
function M.systemd_boot_entries(root)
  local names = root:list_dir("/boot/loader/entries") or {}
  table.sort(names)
  local entries = {}
  for _, name in ipairs(names) do
    local path = "/boot/loader/entries/" .. name
    local text = name:match("%.conf$") and root:read_file(path)
    if text then
      local e = { path = path, cmdline = "", kernel = "" }
      for line in text:gmatch("[^\n]+") do
        local k, v = line:match("^%s*([^%s#]%S*)[ \t]+(.-)[ \t\r]*$")
        if k then
          if #v >= 2 and v:sub(1, 1) == '"' and v:sub(-1) == '"' then v = v:sub(2, -2) end
          local kernel = v:match("([^/]*)$"):match("^vmlinuz%-(.*)$")
          if k == "options" then
            e.cmdline = e.cmdline == "" and v or (e.cmdline .. " " .. v)
          elseif k == "linux" then
            e.kernel = kernel or e.kernel
          elseif k == "uki" then
            e.kernel = kernel or e.kernel
            e.type = "uki-config"
          end
        end
      end
      e.type = e.type or (e.kernel:match("%.efi$") and "uki-config" or "config")
      entries[#entries + 1] = e
    end
  end
  return entries
end

--- systemd-boot's entries for the UKIs it finds on the ESP by itself
--- (`EFI/Linux/vmlinuz-<version>.efi`, ALIC's `uki-standalone`): the path in
--- the image, the kernel version and the command line the UKI boots with
--- (its `.cmdline` and its addons', `uki.boot_cmdline`).
---@param root imgrecipe.Image
---@return {type: string, path: string, kernel: string, cmdline: string}[]
function M.standalone_uki_entries(root)
  local entries = {}
  for _, u in ipairs(uki.list(root)) do
    local version = u.kernel:match("^vmlinuz%-(.+)$")
    if not version then
      util.raise("usage", string.format("COSI: the UKI %s is not named vmlinuz-<version>.efi, so its kernel version "
        .. "is unknown", u.path))
    end
    local cmdline = uki.boot_cmdline(root, u)
    if not cmdline then
      util.raise("usage", string.format("COSI: neither the UKI %s nor an addon of it has a .cmdline section", u.path))
    end
    entries[#entries + 1] = { type = "uki-standalone", path = u.path, kernel = version, cmdline = cmdline }
  end
  return entries
end

--- The boot loader COSI reports. systemd-boot when it is on the ESP with
--- UKIs (an image given UKIs by `os.uki` may keep GRUB's packages, but
--- GRUB no longer boots it); otherwise, as ALIC: grub when a GRUB EFI
--- package is installed, else systemd-boot when systemd-boot is. systemd-boot's
--- entries are /boot/loader/entries' or, when there are none, the UKIs it
--- finds on the ESP.
---@param root imgrecipe.Image
---@param installed table<string, boolean>
---@return {type: string, entries?: table[]}
function M.bootloader(root, installed)
  local booted_ukis = uki.has_systemd_boot(root) and uki.has_ukis(root)
  if not booted_ukis then
    for _, p in ipairs(GRUB_PACKAGES) do
      if installed[p] then return { type = "grub" } end
    end
  end
  if booted_ukis or installed["systemd-boot"] then
    local entries = M.systemd_boot_entries(root)
    if #entries == 0 then entries = M.standalone_uki_entries(root) end
    if #entries == 0 then
      util.raise("usage", "COSI: systemd-boot is installed but has no boot entry: neither /boot/loader/entries/*.conf "
        .. "nor a UKI in " .. uki.ESP .. uki.OUTPUT_DIR)
    end
    return { type = "systemd-boot", entries = entries }
  end
  util.raise("usage", "COSI: unknown boot loader: none of the packages " .. table.concat(GRUB_PACKAGES, ", ")
    .. ", systemd-boot is installed")
end

--- The image UUID: IMAGE_UUID of /etc/image-customizer-release, or nil.
---@param root imgrecipe.Image
---@return string|nil
function M.image_uuid(root)
  local text = root:read_file("/etc/image-customizer-release")
  return text and text:match('\nIMAGE_UUID="?([%x%-]+)"?') or (text and text:match('^IMAGE_UUID="?([%x%-]+)"?'))
end

-- Mount points by partition number: {{partition=, path=}, ...}.
local function mounts_of(target)
  local out = {}
  if is_disk(target) then
    for _, m in ipairs(target:mounts()) do
      for _, p in ipairs(target:partitions()) do
        if p.device == m.device then out[#out + 1] = { partition = p.number, path = m.target } end
      end
    end
  else
    for _, m in ipairs(target:mounts()) do
      if m.partition and m.partition > 0 then out[#out + 1] = { partition = m.partition, path = m.target } end
    end
  end
  return out
end

---@class imgrecipe.CosiOpts
---@field format? string "cosi" (default) or "baremetal-image": the COSI tar padded to 1 MiB with a fixed-VHD footer appended, level 22 by default
---@field level? integer zstd level 1..22 (default 9, ALIC's; 22 for baremetal-image)
---@field window_log? integer zstd long-distance window, 2^n bytes, 10..31 (default 27: --long=27, also for baremetal-image, see docs/cosi.md); metadata's maxWindowLog
---@field workers? integer compression threads (default 0: one per CPU); 1: one thread over the mapped working copy, with no private copy of the window (docs/cosi.md, "Speed and memory")
---@field shrink? boolean|string shrink ext2/3/4 filesystems first: true (default, as ALIC's customize), false, or "filling": only those that exactly fill their partition (ALIC's convert)
---@field arch? string "x86_64" or "arm64" (default: from the image's programs)
---@field image_uuid? string default: IMAGE_UUID of /etc/image-customizer-release, else random

-- The dm-verity devices as COSI lists them: {{data=, hash=, root_hash=,
-- hash_offset=}, ...} (hash_offset: inline only). A Disk: the trees
-- `verity.format` made on it; an Image: the devices it already uses (root
-- hash from its kernel command line, layout from the superblock).
local function verity_of(target)
  local out = {}
  if getmetatable(target) == image.Image then
    for _, v in ipairs(target:verity()) do
      out[#out + 1] = { data = v.data, hash = v.hash, root_hash = v.root_hash,
                        hash_offset = v.inline and v.hash_offset or 0 }
    end
  end
  for dn, info in pairs(is_disk(target) and target._verity or {}) do
    out[#out + 1] = { data = dn, hash = info.hash, root_hash = info.root_hash,
                      hash_offset = info.inline and info.hash_offset or 0 }
  end
  table.sort(out, function(a, b) return a.data < b.data end)
  return out
end

-- The partitions of `raw` whose content is a dm-verity hash superblock
-- (blkid's DM_verity_hash), as "3, 5", or nil.
local function verity_hash_partitions(raw)
  local list = {}
  for _, p in ipairs(require("imgrecipe.host.disk").partitions(raw).partitions) do
    if p.fstype == "DM_verity_hash" then list[#list + 1] = tostring(p.number) end
  end
  return #list > 0 and table.concat(list, ", ") or nil
end

--- What describes the OS in the COSI metadata, read from the mounted image:
--- `{os_arch=, os_release=, image_uuid=, bootloader=, packages=, mounts=, verity=}`;
--- `verity` lists the hash trees `imgrecipe.verity.format` made on a Disk,
--- or the dm-verity devices an Image already uses (`img:verity()`): the data
--- filesystem's entry gets the `verity` object, the hash partition is not
--- listed as a filesystem.
---@param target imgrecipe.Image|imgrecipe.Disk mounted
---@param opts? imgrecipe.CosiOpts
---@return table
function M.gather(target, opts)
  util.check_options("cosi.gather", opts,
    { "format", "level", "window_log", "workers", "shrink", "arch", "image_uuid" })
  opts = opts or {}
  local root = root_of(target)
  local os_release = root:read_file("/etc/os-release") or root:read_file("/usr/lib/os-release")
  if not os_release then util.raise("usage", "COSI: the image has no /etc/os-release") end
  local packages, installed = M.packages(root)
  return {
    os_arch = opts.arch or M.arch(root),
    os_release = os_release,
    image_uuid = opts.image_uuid or M.image_uuid(root),
    bootloader = M.bootloader(root, installed),
    packages = packages,
    mounts = mounts_of(target),
    verity = verity_of(target),
  }
end

--- Writes the image or disk as a COSI file at `path`, atomically. The OS is
--- read from its mounts (the Image is mounted first if it is not mounted; a
--- Disk must be mounted), then everything is unmounted (staged
--- FAT written back), ext2/3/4 filesystems are shrunk with their partitions
--- on the working copy (not dm-verity data and hash partitions: the hash
--- tree covers them as they are), every filesystem is checked read-only, and the
--- partitions are compressed in process (zstd, long window, multithreaded).
--- With `opts.format = "baremetal-image"` the tar is then padded with zeros
--- to a whole MiB and a fixed-VHD footer is appended in place (before the
--- fsync and rename), so the file is also a fixed VHD of the padded size.
--- Returns `{id=, regions={...}, images={...}}` with each image's path,
--- sizes and sha384.
---@param target imgrecipe.Image|imgrecipe.Disk
---@param path string output file (.cosi)
---@param opts? imgrecipe.CosiOpts
---@return table
function M.write(target, path, opts)
  util.check_options("cosi.write", opts,
    { "format", "level", "window_log", "workers", "shrink", "arch", "image_uuid" })
  validate("target", target, "table")
  validate("path", path, "string")
  validate("opts", opts, "table", true)
  opts = opts or {}
  for k, t in pairs({ level = "number", window_log = "number", workers = "number", shrink = { "boolean", "string" },
                      arch = "string", image_uuid = "string", format = "string" }) do
    validate("opts." .. k, opts[k], t, true)
  end
  local format = opts.format or "cosi"
  local defaults = M.DEFAULTS[format]
  if not defaults then
    util.raise("usage", string.format("opts.format '%s': expected cosi or baremetal-image", format))
  end
  if type(opts.shrink) == "string" and opts.shrink ~= "filling" then
    util.raise("usage", string.format("opts.shrink '%s': expected true, false or \"filling\"", opts.shrink))
  end
  local disk_mode = is_disk(target)
  if not disk_mode and getmetatable(target) ~= image.Image then
    util.raise("usage", "argument 'target': expected an Image or a Disk")
  end
  -- Checked before anything is unmounted or shrunk.
  local function whole_in(name, lo, hi)
    local v = opts[name]
    if v ~= nil and (v ~= math.floor(v) or v < lo or v > hi) then
      util.raise("usage", string.format("zstd %s %s: expected %d to %d", name:gsub("_", " "), tostring(v), lo, hi))
    end
  end
  whole_in("level", 1, 22)
  whole_in("window_log", 10, 31)
  whole_in("workers", 0, 256)
  image.check_output(path, format, { input = disk_mode and target.path or target.input })
  local raw = disk_mode and target.path or target.raw
  local work_dir = target.work_dir
  -- An image with dm-verity hash partitions (made elsewhere) is mounted
  -- read-only: a read-write mount alone changes the hashed filesystems.
  -- Otherwise read-write: `rpm -qa` runs in the image, and the sandbox
  -- needs a writable root.
  local hashes = not disk_mode and verity_hash_partitions(raw)
  if not disk_mode and not target._mnt then target:mount(hashes and { read_only = true } or nil) end
  local inputs = M.gather(target, opts)
  if disk_mode then
    target:unmount()
    target:detach()
  else
    target:unmount()
  end
  if opts.shrink ~= false then
    -- A hash tree covers its data partition as it is: verity data and hash
    -- partitions are never shrunk here (ALIC shrinks before hashing).
    local skip = {}
    for _, v in ipairs(inputs.verity) do skip[#skip + 1] = v.data; skip[#skip + 1] = v.hash end
    -- An image made elsewhere with verity (a hash partition, but no tree
    -- made here): which filesystems its trees cover is not known here, so
    -- none is shrunk rather than one broken.
    local foreign_verity = #inputs.verity == 0 and (hashes or verity_hash_partitions(raw))
    if foreign_verity then
      log.info(string.format("partition(s) %s hold dm-verity hash trees: no filesystem is shrunk", foreign_verity))
    end
    for _, s in ipairs(foreign_verity and {} or host.shrink(raw, { only_filling = opts.shrink == "filling", skip = skip })) do
      log.info(string.format("partition %d shrunk from %d to %d bytes", s.number, s.old_size, s.new_size))
    end
  end
  local result = host.write(raw, path, inputs, {
    level = opts.level or defaults.level, window_log = opts.window_log or defaults.window_log,
    workers = opts.workers, work_dir = work_dir, vhd_footer = format == "baremetal-image",
  })
  require("imgrecipe.outputs").record(path, format)
  return result
end

return M
