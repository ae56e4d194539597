--- LiveOS ISO (alic-reference §4.11): a customized OS as a live CD/USB that
--- boots into its read-only root (LiveOS/rootfs.img, a squashfs) under an
--- in-memory overlay, through the image's own dracut (dmsquash-live).
--- Composed of the boot media primitives (imgrecipe.squashfs, imgrecipe.iso);
--- docs/iso.md.
---
--- The image is changed on the way (its fstab becomes the live one), so build
--- from a working copy that is not saved afterwards:
---
---     local liveos = require "imgrecipe.liveos"
---     local img = ctx:open(ctx.params.input)
---     img:mount()
---     img:packages({ install = { "dracut", "dracut-live" } })
---     liveos.build(img, ctx.params.output, { work_dir = ctx.work_dir .. "/live",
---                                            extra_args = { "console=ttyS0,115200n8" } })
-- @module imgrecipe.liveos
local iso = require "imgrecipe.iso"
local squashfs = require "imgrecipe.squashfs"
local grub = require "imgrecipe.grub"
local kernel = require "imgrecipe.kernel"
local selinux = require "imgrecipe.selinux"
local osrelease = require "imgrecipe.osrelease"
local diskboot = require "imgrecipe.diskboot"
local json = require "imgrecipe.json"
local fullos = require "imgrecipe.fullos"
local sys = require "imgrecipe.host.sys"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"

local validate = util.validate

local M = {}

--- The volume ID ALIC gives its ISOs; GRUB and dracut find the media by it.
M.VOLUME_ID = "CDROM"
--- Where the live root is on the media, as dmsquash-live is told (rd.live.dir, rd.live.squashimg).
M.LIVE_DIR = "LiveOS"
M.ROOTFS_NAME = "rootfs.img"
--- ALIC's file of the arguments to keep for a later ISO → ISO run.
M.SAVED_CONFIGS = "/azl-image-customizer/saved-configs.yaml"
--- The GRUB directory on the media (prefix of both EFI and BIOS GRUB).
M.GRUB_DIR = "/boot/grub"
--- The fstab of the live root: nothing to mount, / is dracut's overlay. The
--- disk's fstab would make systemd wait for partitions the media lacks.
M.LIVE_FSTAB = "# LiveOS: / is the overlay dracut's dmsquash-live mounts; no disk filesystems.\n"

-- Kernel arguments of the disk boot that make no sense on live media.
local DISK_ARGS = { "root", "ro", "rw", "rootflags", "rootfstype", "resume", "BOOT_IMAGE" }
-- GRUB modules the EFI loader needs on top of a disk loader's: the ISO's filesystem.
local MEDIA_MODULES = { "iso9660", "part_gpt", "part_msdos", "fat", "search_label", "serial" }
-- Where the host work directory is seen inside the image while commands run.
local BIND = "/.imgrecipe-liveos"

local find_tool = util.find_program

local write_host = util.write_host

local copy_host = util.copy_host

local function rename_host(from, to)
  local ok, err = os.rename(from, to)
  if not ok then util.raise("system", string.format("cannot rename %s to %s: %s", from, to, tostring(err))) end
end

local function mkdir_host(path)
  sys.mkdir(path)
end

--- The kernel dmsquash-live arguments that boot the live root from media
--- labelled `volume_id`.
---@param volume_id string
---@return string[]
function M.live_args(volume_id)
  validate("volume_id", volume_id, "string")
  return {
    "root=live:CDLABEL=" .. volume_id, "rd.live.image", "rd.live.dir=" .. M.LIVE_DIR,
    "rd.live.squashimg=" .. M.ROOTFS_NAME, "rd.live.overlay.overlayfs", "rd.live.overlay.nouserconfirmprompt",
  }
end

--- The newest installed kernel with its /boot/vmlinuz: `{version=, path=}`.
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted
---@return {version: string, path: string}
function M.kernel(root)
  local versions = kernel.check_installed(root)
  for i = #versions, 1, -1 do
    local path = "/boot/vmlinuz-" .. versions[i]
    if root:exists(path) then
      if #versions > 1 then log.info("kernels %s installed: the live media boots %s", table.concat(versions, ", "), versions[i]) end
      return { version = versions[i], path = path }
    end
  end
  util.raise("config", string.format("LiveOS ISO: no /boot/vmlinuz-<version> for the installed kernel(s) %s",
    table.concat(versions, ", ")))
end

--- True when the image's dracut has the module `name` (e.g. "90livenet").
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@param name string the module's directory name in dracut's modules.d
---@return boolean
function M.has_dracut_module(root, name)
  for _, dir in ipairs({ "/usr/lib/dracut/modules.d", "/usr/lib64/dracut/modules.d" }) do
    if root:exists(dir .. "/" .. name .. "/module-setup.sh") then return true end
  end
  return false
end

--- Fails, naming the packages to install, unless the image has dracut and
--- its dmsquash-live module (the live initramfs is built by the image's own
--- dracut). Returns dracut's path in the image.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@return string
function M.check_dracut(root)
  local dracut = find_tool(root, { "dracut" })
  local live = M.has_dracut_module(root, "90dmsquash-live")
  if dracut and live then return dracut end
  local missing = {}
  if not dracut then missing[#missing + 1] = "dracut" end
  if not live then missing[#missing + 1] = "its dmsquash-live module" end
  util.raise("config", string.format("LiveOS ISO: the image has no %s, which builds the live initramfs: install "
    .. "them in the image (os.packages.install; Debian/Ubuntu: dracut and dracut-live, Fedora: dracut-live, "
    .. "Azure Linux: dracut and squashfs-tools)", table.concat(missing, " and ")))
end

--- Fails when an enabled SELinux mode is asked for: the live root is not
--- labelled for it (ALIC's rule; an image that merely has SELinux enabled
--- boots live with selinux=0 instead).
---@param mode? string the requested mode (os.selinux.mode), nil or "" when none
function M.check_selinux_request(mode)
  if mode and mode ~= "" and mode ~= "disabled" then
    util.raise("config", string.format("LiveOS ISO: SELinux mode '%s' cannot be used on live media (the live root "
      .. "is not labelled for it); leave os.selinux.mode unset or set it to disabled", mode))
  end
end

--- The kernel arguments of the image's own boot entry (its grub.cfg's first
--- `linux` line) that still apply on live media: `root=`, `ro` and the like
--- are dropped, and so are GRUB variables (`$vt_handoff`).
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@return string[]
function M.image_args(root)
  for _, path in ipairs(grub.CONFIGS) do
    local text = root:exists(path) and root:read_file(path)
    local args = text and grub.first_kernel_args(text)
    if args then
      local out = {}
      for _, a in ipairs(args) do
        local name = a:match("^([^=]*)")
        -- A GRUB variable (Ubuntu's $vt_handoff) means nothing on the media,
        -- whose grub.cfg quotes every argument.
        local drop = a:find("$", 1, true) ~= nil
        for _, d in ipairs(DISK_ARGS) do drop = drop or name == d end
        if not drop then out[#out + 1] = a end
      end
      return out
    end
  end
  return {}
end

--- The kernel arguments after the live ones: the image's own, SELinux
--- turned off when the image has it on (its SELinux arguments replaced by
--- selinux=0), then `extra` (saved and new iso.kernelCommandLine ones).
---@param image_args string[] liveos.image_args
---@param selinux_on boolean the image's SELinux mode is not disabled
---@param extra string[]
---@return string[]
function M.boot_args(image_args, selinux_on, extra)
  local out = {}
  for _, a in ipairs(image_args) do
    local name = a:match("^([^=]*)")
    if not (selinux_on and (name == "security" or name == "selinux" or name == "enforcing")) then out[#out + 1] = a end
  end
  if selinux_on then out[#out + 1] = "selinux=0" end
  for _, a in ipairs(extra) do out[#out + 1] = a end
  return out
end

---@class imgrecipe.LiveGrubSpec
---@field volume_id string
---@field kernel string path of the kernel on the media
---@field initrd string path of the initramfs on the media
---@field args string[] every kernel argument after the live ones
---@field title? string menu entry title
---@field initramfs_type? string "full-os": no live arguments (the initramfs is the root)

--- The media's grub.cfg: one entry that finds the media by its label and
--- boots the live root.
---@param spec imgrecipe.LiveGrubSpec
---@return string
function M.grub_config(spec)
  util.check_options("liveos.grub_config", spec, { "volume_id", "kernel", "initrd", "args", "title", "initramfs_type" })
  validate("spec", spec, "table")
  local args = spec.initramfs_type == "full-os" and {} or M.live_args(spec.volume_id)
  for _, a in ipairs(spec.args or {}) do args[#args + 1] = a end
  grub.check_kernel_args(args)
  local title = (spec.title or "Live system"):gsub("[\"\\$`]", "")
  return table.concat({
    "# LiveOS media, written by imgrecipe",
    "set default=0",
    "set timeout=1",
    'menuentry "' .. title .. '" {',
    "\tsearch --no-floppy --set=root --label " .. spec.volume_id,
    "\tlinux\t" .. spec.kernel .. " " .. grub.quote_args(args),
    "\tinitrd\t" .. spec.initrd,
    "}",
  }, "\n") .. "\n"
end

--- The early config built into the media's GRUB images: they start on the
--- FAT image or the El Torito image, not the ISO, so they find it by label.
---@param volume_id string
---@return string
function M.early_config(volume_id)
  return "search --no-floppy --set=root --label " .. volume_id .. "\nset prefix=($root)" .. M.GRUB_DIR
      .. "\nconfigfile $prefix/grub.cfg\n"
end

--- The saved-configs file (YAML; written as JSON, which YAML reads): the
--- `iso.kernelCommandLine` arguments a later ISO → ISO run keeps.
---@param spec {extra_args: string[], initramfs_type: string, kernel_version: string, kdump_boot_files?: string}
---@return string
function M.saved_configs(spec)
  util.check_options("liveos.saved_configs", spec, { "extra_args", "initramfs_type", "kernel_version", "kdump_boot_files" })
  local args = {}
  for i, a in ipairs(spec.extra_args or {}) do args[i] = a end
  local doc = json.ordered({
    iso = json.ordered({
      kernelCommandLine = json.ordered({ extraCommandLine = args },
        { "extraCommandLine" }),
      initramfsType = spec.initramfs_type,
      kdumpBootFiles = spec.kdump_boot_files,
    }, { "kernelCommandLine", "initramfsType", "kdumpBootFiles" }),
    os = json.ordered({ kernelVersion = spec.kernel_version }, { "kernelVersion" }),
  }, { "iso", "os" })
  return "# imgrecipe LiveOS saved configuration (YAML)\n" .. json.encode(doc) .. "\n"
end

-- Runs `argv` in the image with the host directory `dir` visible at BIND.
local function run_bound(root, dir, argv, step)
  return root:run(argv, { binds = { { host = dir, image = BIND, read_only = false } }, network = false, step = step })
end

--- The live initramfs's compressor: zstd -3 is smaller than dracut's default
--- (gzip -9 without pigz: 18.7 against 19.2 MB here) for 0.24 s of CPU
--- instead of 10.6 s, which was 80 % of dracut's run. dracut itself falls
--- back to its default when the image's kernel lacks CONFIG_RD_ZSTD or the
--- image has no zstd.
M.DRACUT_COMPRESS = "zstd -3 -q -T0"
--- zstd level of the live root's squashfs unless `compression_level` says
--- otherwise: mksquashfs's own default (15) takes 5 times the CPU of 9 for a
--- 6 % smaller image (the Debian test image's root: 19 s and 97.5 MB against
--- 3.7 s and 103.3 MB), and it is most of a LiveOS build's time. 9 is also
--- the COSI level.
M.SQUASHFS_LEVEL = 9

--- Builds the live initramfs of kernel `version` with the image's dracut
--- (dmsquash-live and overlayfs, not host-only) into the host file
--- `dir`/`name`, and copies the kernel `kernel_path` beside it as
--- `dir`/vmlinuz. Nothing is left in the image.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@param version string
---@param kernel_path string
---@param dir string host directory
---@param name string
---@param modules? string[] more dracut modules (e.g. livenet for PXE)
function M.initramfs(root, version, kernel_path, dir, name, modules)
  local dracut = M.check_dracut(root)
  local add = { "dmsquash-live" }
  for _, m in ipairs(modules or {}) do add[#add + 1] = m end
  run_bound(root, dir, {
    dracut, "--force", "--no-hostonly", "--kver", version, "--add", table.concat(add, " "),
    "--add-drivers", "overlay squashfs loop iso9660 sr_mod virtio_scsi",
    "--filesystems", "squashfs iso9660", "--compress", M.DRACUT_COMPRESS, BIND .. "/" .. name,
  }, "dracut")
  M.copy_out(root, kernel_path, dir, "vmlinuz")
end

--- Copies the image's file `path` (symbolic links resolved inside the
--- image: `cp -L` run in the image) to the host file `dir`/`name`.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@param path string
---@param dir string host directory
---@param name string
function M.copy_out(root, path, dir, name)
  run_bound(root, dir, { "/bin/cp", "-L", "--", path, BIND .. "/" .. name }, "copy " .. path)
end

--- The kdump boot files of the image (ALIC's rule): the initramfs files
--- directly under /boot whose name holds an installed kernel's version and
--- "kdump.img" (`initramfs-<v>kdump.img`), each with that kernel
--- (`/boot/vmlinuz-<v>`, when present). `{ {version=, initrd=, kernel=}, ... }`.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@return table[]
function M.kdump_files(root)
  if not root:exists("/boot") then return {} end
  local names = root:list_dir("/boot")
  table.sort(names)
  local versions = {}
  for _, n in ipairs(names) do
    local v = n:match("^vmlinuz%-(.+)$")
    if v then versions[#versions + 1] = v end
  end
  local out = {}
  for _, n in ipairs(names) do
    if n:find("kdump.img", 1, true) and (n:sub(1, 9) == "initramfs" or n:sub(1, 6) == "initrd") then
      for _, v in ipairs(versions) do
        if n:find(v, 1, true) then
          out[#out + 1] = { version = v, initrd = "/boot/" .. n, kernel = "/boot/vmlinuz-" .. v }
          break
        end
      end
    end
  end
  return out
end

--- Where images keep shim, the first-stage loader that is signed for
--- Secure Boot and loads grubx64.efi from its own directory (on the ISO's
--- EFI image, or over the network from the TFTP server). Debian/Ubuntu:
--- shim-signed, shim-unsigned; Fedora/Azure Linux: the shim package's ESP copies.
M.SHIM_PATHS = { "/usr/lib/shim/shimx64.efi.signed", "/usr/lib/shim/shimx64.efi", "/boot/efi/EFI/BOOT/shimx64.efi" }
-- shim's MOK manager (Debian: shim-helpers-amd64-signed, shim-unsigned).
local MOK_PATHS = { "/usr/lib/shim/mmx64.efi.signed", "/usr/lib/shim/mmx64.efi" }
-- GRUB signed for shim (Debian/Ubuntu: grub-efi-amd64-signed): one image
-- with its modules built in and its prefix /EFI/<vendor>.
local SIGNED_GRUB_PATHS = { "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed" }

local function first_existing(root, paths)
  for _, p in ipairs(paths) do
    if root:exists(p) then return p end
  end
  return nil
end

--- The image's shim (x86_64), or nil: the paths of M.SHIM_PATHS, then
--- `/boot/efi/EFI/<vendor>/shimx64.efi`.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@return string|nil
function M.find_shim(root)
  local found = first_existing(root, M.SHIM_PATHS)
  if found then return found end
  if root:exists("/boot/efi/EFI") then
    local vendors = root:list_dir("/boot/efi/EFI")
    table.sort(vendors)
    for _, v in ipairs(vendors) do
      local p = "/boot/efi/EFI/" .. v .. "/shimx64.efi"
      if root:exists(p) then return p end
    end
  end
  return nil
end

-- With shim in the image, the EFI image's EFI/BOOT becomes ALIC's (and a
-- shim-booted disk's): BOOTX64.EFI is shim, grubx64.efi the GRUB it loads
-- (the image's signed GRUB, else the one efi_loader built), mmx64.efi the
-- MOK manager. A signed GRUB cannot take our early config: its built-in
-- prefix is /EFI/<vendor> on the device it was loaded from, so the early
-- config goes there as grub.cfg (and beside it, $cmdpath/grub.cfg, its
-- fallback). Returns a description, nil without shim (the layout stays).
local function shim_boot(root, esp, early)
  local shim = M.find_shim(root)
  if not shim then return nil end
  local boot = esp .. "/EFI/BOOT"
  local paths = { "/EFI/BOOT/BOOTX64.EFI", "/EFI/BOOT/grubx64.efi" }
  local signed = first_existing(root, SIGNED_GRUB_PATHS)
  if signed then
    os.remove(boot .. "/BOOTX64.EFI")
    M.copy_out(root, signed, boot, "grubx64.efi")
    local vendor = (osrelease.read(root).ID or ""):lower()
    if vendor:match("^[a-z0-9][a-z0-9._-]*$") and vendor ~= "boot" then
      mkdir_host(esp .. "/EFI/" .. vendor)
      copy_host(early, esp .. "/EFI/" .. vendor .. "/grub.cfg")
      paths[#paths + 1] = "/EFI/" .. vendor .. "/grub.cfg"
    end
    copy_host(early, boot .. "/grub.cfg")
    paths[#paths + 1] = "/EFI/BOOT/grub.cfg"
  else
    rename_host(boot .. "/BOOTX64.EFI", boot .. "/grubx64.efi")
  end
  M.copy_out(root, shim, boot, "BOOTX64.EFI")
  local mok = first_existing(root, MOK_PATHS)
  if mok then
    M.copy_out(root, mok, boot, "mmx64.efi")
    paths[#paths + 1] = "/EFI/BOOT/mmx64.efi"
  end
  return string.format("shim %s, GRUB %s%s", shim, signed or "built by grub-mkimage",
    mok and ", MOK manager " .. mok or ""), paths
end

---@class imgrecipe.EfiLoaderOpts
---@field path? string host file to write (default `dir`/EFI/BOOT/BOOTX64.EFI)
---@field prefix? string GRUB's prefix (default liveos.GRUB_DIR)
---@field modules? string[] more built-in GRUB modules (e.g. efinet and tftp for PXE)

--- The removable-media EFI loader `dir`/EFI/BOOT/BOOTX64.EFI: the image's
--- own GRUB (its grub-mkimage and x86_64-efi modules) when it has one, else
--- the host's (iso.grub_image), with the early config built in.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
---@param dir string host directory (the FAT image's tree)
---@param early? string host file: the early config (none: GRUB loads `prefix`/grub.cfg)
---@param opts? imgrecipe.EfiLoaderOpts
---@return string who built it
function M.efi_loader(root, dir, early, opts)
  util.check_options("liveos.efi_loader", opts, { "path", "prefix", "modules" })
  opts = opts or {}
  local out = opts.path or dir .. "/EFI/BOOT/BOOTX64.EFI"
  local prefix = opts.prefix or M.GRUB_DIR
  if not opts.path then mkdir_host(util.dirname(out)) end
  local modules, seen = {}, {}
  for _, list in ipairs({ diskboot.EFI_MODULES, MEDIA_MODULES, opts.modules or {} }) do
    for _, m in ipairs(list) do
      if not seen[m] then modules[#modules + 1] = m; seen[m] = true end
    end
  end
  local mkimage = find_tool(root, { "grub-mkimage", "grub2-mkimage" })
  local moddir
  for _, d in ipairs({ "/usr/lib/grub/x86_64-efi", "/usr/lib/grub2/x86_64-efi" }) do
    if root:exists(d .. "/linux.mod") and root:exists(d .. "/iso9660.mod") then moddir = d end
  end
  if mkimage and moddir then
    local parent = util.dirname(out)
    local argv = { mkimage, "-O", "x86_64-efi", "-d", moddir, "-p", prefix, "-o", BIND .. "/efi-loader.efi" }
    if early then
      -- The early config is read through the bind: copy it beside the output.
      write_host(parent .. "/.early.cfg", assert(io.open(early)):read("*a"))
      argv[#argv + 1] = "-c"
      argv[#argv + 1] = BIND .. "/.early.cfg"
    end
    for _, m in ipairs(modules) do argv[#argv + 1] = m end
    run_bound(root, parent, argv, "grub-mkimage")
    if early then os.remove(parent .. "/.early.cfg") end
    rename_host(parent .. "/efi-loader.efi", out)
    return "the image's " .. mkimage
  end
  iso.grub_image(out, { target = "x86_64-efi", config_file = early, prefix = prefix,
                        modules = opts.modules and modules or nil })
  return "the host's grub-mkimage (the image has no grub-mkimage with x86_64-efi modules)"
end

---@class imgrecipe.LiveFile
---@field source? string host file
---@field content? string or the file's content
---@field path string absolute path on the media

---@class imgrecipe.LiveOsOpts
---@field work_dir string host directory for the intermediate files (created; a build directory)
---@field volume_id? string default "CDROM" (ALIC's)
---@field extra_args? string[] kernel arguments (iso.kernelCommandLine.extraCommandLine), also saved on the media
---@field saved_args? string[] arguments kept from an earlier ISO (before extra_args)
---@field files? imgrecipe.LiveFile[] more files on the media (iso.additionalFiles)
---@field initramfs_type? string "bootstrap" (default: dracut live initramfs + squashfs) or "full-os" (the whole OS as the initramfs, imgrecipe.fullos)
---@field kdump_boot_files? string "keep": the kdump kernel and initramfs stay in the live root's /boot; "none": they go to the media's /boot; nil: left out (ALIC's three cases)
---@field iso? boolean false: build the media tree (kernel, initramfs, live root, grub.cfg) but no boot loaders and no ISO (imgrecipe.pxe full-os)
---@field selinux_mode? string the SELinux mode the config asked for: an enabled one is an error
---@field bios? boolean also boot on BIOS (CD and disk) with the host's GRUB i386-pc (default: when the host has it)
---@field compression_level? integer zstd level of the squashfs (default `liveos.SQUASHFS_LEVEL`, 9)
---@field timestamp? integer reproducible dates in the squashfs and the ISO
---@field image_args? string[] the image's own kernel arguments (default: read from its grub.cfg, liveos.image_args)
---@field dracut_modules? string[] more dracut modules in the initramfs (imgrecipe.pxe adds livenet)

--- Builds the LiveOS ISO `output` (atomically) from a mounted, customized
--- image. The image's /etc/fstab is replaced by the live one: do not save
--- the image afterwards. Returns `{kernel=, volume_id=, args=, media=,
--- kernel_file=, initrd_file=}`: the kernel version, the arguments after the
--- live ones, and the media tree with its kernel and initramfs (host files
--- left in `work_dir`, which imgrecipe.pxe reuses).
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted read-write
---@param output string
---@param opts imgrecipe.LiveOsOpts
---@return table
function M.build(root, output, opts)
  util.check_options("liveos.build", opts,
    { "work_dir", "volume_id", "extra_args", "saved_args", "files", "initramfs_type", "selinux_mode", "bios", "compression_level", "timestamp", "image_args", "dracut_modules", "kdump_boot_files", "iso" })
  util.check_option_list("liveos.build", "files", opts and opts.files, { "source", "content", "path", "permissions" })
  validate("root", root, "table")
  validate("output", output, "string")
  validate("opts", opts, "table")
  validate("opts.work_dir", opts.work_dir, "string")
  validate("opts.volume_id", opts.volume_id, "string", true)
  validate("opts.extra_args", opts.extra_args, "table", true)
  validate("opts.saved_args", opts.saved_args, "table", true)
  validate("opts.files", opts.files, "table", true)
  validate("opts.image_args", opts.image_args, "table", true)
  local initramfs_type = opts.initramfs_type or "bootstrap"
  if initramfs_type ~= "bootstrap" and initramfs_type ~= "full-os" then
    util.raise("usage", string.format("initramfs_type: expected bootstrap or full-os, got '%s'", tostring(initramfs_type)))
  end
  local full = initramfs_type == "full-os"
  local kdump = opts.kdump_boot_files
  if kdump ~= nil and kdump ~= "keep" and kdump ~= "none" then
    util.raise("usage", string.format("kdump_boot_files: expected keep or none, got '%s'", tostring(kdump)))
  end
  local volume_id = opts.volume_id or M.VOLUME_ID
  if not volume_id:match("^[A-Za-z0-9_%-]+$") or #volume_id > 32 then
    util.raise("usage", string.format("volume_id '%s': 1..32 letters, digits, '_' or '-' (it is a kernel argument)", volume_id))
  end
  local extra = {}
  for _, a in ipairs(opts.saved_args or {}) do extra[#extra + 1] = a end
  for _, a in ipairs(opts.extra_args or {}) do extra[#extra + 1] = a end
  grub.check_kernel_args(extra)
  -- Fail before the long steps: the image must be able to boot live.
  local k = M.kernel(root)
  if not full then M.check_dracut(root) end

  -- SELinux: the live root is not labelled for it (alic-reference §4.11 step 5).
  M.check_selinux_request(opts.selinux_mode)
  local selinux_on = selinux.current_mode(root) ~= "disabled"
  if selinux_on and full then
    -- ALIC's rule: a full-os root has no labels at all (cpio keeps no xattrs).
    util.raise("config", "LiveOS: SELinux is not supported with initramfsType full-os (the image's SELinux mode is "
      .. selinux.current_mode(root) .. "): set os.selinux.mode to disabled or use initramfsType bootstrap")
  end
  if selinux_on then log.warn("LiveOS ISO: SELinux is disabled on the live media (selinux=0)") end
  local args = M.boot_args(opts.image_args or M.image_args(root), selinux_on, extra)

  local w = opts.work_dir
  local media, esp = w .. "/media", w .. "/esp"
  for _, d in ipairs({ w, media, media .. "/boot", media .. M.GRUB_DIR, esp }) do mkdir_host(d) end
  -- bootstrap: a dracut live initramfs per kernel; full-os: one initramfs
  -- that is the whole OS (ALIC's /boot/initrd.img), made last.
  local initrd = full and "/boot/initrd.img" or "/boot/initrd.img-" .. k.version
  if full then
    M.copy_out(root, k.path, media .. "/boot", "vmlinuz")
  else
    M.initramfs(root, k.version, k.path, media .. "/boot", "initrd.img", opts.dracut_modules)
    rename_host(media .. "/boot/initrd.img", media .. initrd)
  end
  rename_host(media .. "/boot/vmlinuz", media .. "/boot/vmlinuz-" .. k.version)

  -- kdump boot files (preview kdump-boot-files): kept in the live root, on
  -- the media, or left out (alic-reference §2.5).
  local keep_boot, media_boot_files = {}, {}
  for _, f in ipairs(M.kdump_files(root)) do
    if kdump == "keep" then
      keep_boot[#keep_boot + 1] = f.initrd
      if root:exists(f.kernel) then keep_boot[#keep_boot + 1] = f.kernel end
    elseif kdump == "none" then
      M.copy_out(root, f.initrd, media .. "/boot", f.initrd:match("[^/]+$"))
      media_boot_files[#media_boot_files + 1] = f.initrd:match("[^/]+$")
      if root:exists(f.kernel) and sys.kind(media .. f.kernel) ~= "file" then
        M.copy_out(root, f.kernel, media .. "/boot", f.kernel:match("[^/]+$"))
        media_boot_files[#media_boot_files + 1] = f.kernel:match("[^/]+$")
      end
    end
    log.info("kdump boot files %s (kernel %s): %s", f.initrd, f.version,
      kdump == "keep" and "kept in the live root's /boot" or kdump == "none" and "on the media's /boot" or "left out")
  end

  local vars = osrelease.read(root)
  write_host(media .. M.GRUB_DIR .. "/grub.cfg", M.grub_config({
    volume_id = volume_id, kernel = "/boot/vmlinuz-" .. k.version, initrd = initrd, initramfs_type = initramfs_type,
    args = args, title = (vars.PRETTY_NAME or vars.NAME or "Linux") .. " (live)",
  }))
  local saved = media .. M.SAVED_CONFIGS
  mkdir_host(util.dirname(saved))
  write_host(saved, M.saved_configs({ extra_args = extra, initramfs_type = initramfs_type,
                                      kernel_version = k.version, kdump_boot_files = kdump }))
  local result = { kernel = k.version, volume_id = volume_id, args = args, media = media,
                   initramfs_type = initramfs_type, kernel_file = media .. "/boot/vmlinuz-" .. k.version,
                   initrd_file = media .. initrd, initrd_path = initrd, media_boot_files = media_boot_files }
  local live_root_exclude = { "/proc/*", "/sys/*", "/dev/*", "/run/*", "/tmp/*", "/var/tmp/*", BIND }
  if opts.iso == false then
    -- No media: the tree's pieces only (PXE full-os).
    root:write_file("/etc/fstab", M.LIVE_FSTAB, { mode = "0644" })
    if full then
      fullos.initrd(root, media .. initrd, { keep_boot = keep_boot, exclude = { BIND }, timestamp = opts.timestamp })
    end
    return result
  end

  -- Boot loaders: UEFI through the FAT image, BIOS through GRUB's El Torito image.
  local early = w .. "/early.cfg"
  write_host(early, M.early_config(volume_id))
  log.info("EFI loader built by %s", M.efi_loader(root, esp, early))
  local shim, efi_paths = shim_boot(root, esp, early)
  if shim then log.info("UEFI boot through the image's %s", shim) end
  iso.fat_image(esp, w .. "/efiboot.img", { label = "EFIBOOT", timestamp = opts.timestamp })
  local bios
  if opts.bios ~= false then
    if opts.bios == true or sys.kind("/usr/lib/grub/i386-pc/cdboot.img") == "file" then
      bios = iso.grub_bios_boot(w, { config_file = early })
    else
      log.info("no BIOS boot: the host has no GRUB i386-pc modules (Debian package grub-pc-bin)")
    end
  end

  -- The live root: the image itself with the live fstab, /boot left empty
  -- but for kept kdump files (kernel and initramfs are on the media):
  -- bootstrap, the squashfs LiveOS/rootfs.img; full-os, the initramfs.
  root:write_file("/etc/fstab", M.LIVE_FSTAB, { mode = "0644" })
  local files = {}
  if full then
    fullos.initrd(root, media .. initrd, { keep_boot = keep_boot, exclude = { BIND }, timestamp = opts.timestamp })
  else
    local exclude = fullos.boot_exclusions(root, keep_boot)
    for _, p in ipairs(live_root_exclude) do exclude[#exclude + 1] = p end
    -- An intermediate: xorriso reads it back at once and the ISO is fsynced.
    squashfs.create(root, w .. "/" .. M.ROOTFS_NAME, {
      exclude = exclude, level = opts.compression_level or M.SQUASHFS_LEVEL, timestamp = opts.timestamp, durable = false,
    })
    files[1] = { source = w .. "/" .. M.ROOTFS_NAME, path = "/" .. M.LIVE_DIR .. "/" .. M.ROOTFS_NAME }
  end

  -- With shim, the ISO's own /EFI too (ALIC's; USB writers that copy the
  -- ISO's files boot from them).
  for _, p in ipairs(efi_paths or {}) do files[#files + 1] = { source = esp .. p, path = p } end
  for _, f in ipairs(M.stage_files(opts.files, w .. "/files")) do files[#files + 1] = f end
  iso.write(output, {
    volume_id = volume_id, tree = media, files = files,
    efi_boot_image = w .. "/efiboot.img", bios = bios, timestamp = opts.timestamp,
  })
  log.info("LiveOS ISO %s: kernel %s, %s initramfs, label %s, arguments: %s", output, k.version, initramfs_type,
    volume_id, table.concat(args, " "))
  require("imgrecipe.outputs").record(output, "iso")
  return result
end

--- The host files of `files` (iso.additionalFiles, pxe.additionalFiles)
--- as ISO grafts `{source=, path=}`: a `content` is written to a file in
--- `dir`, and a `permissions` mode (octal string "0755" or a number) is
--- given to that file or to a copy of the `source` made in `dir`, since the
--- ISO's Rock Ridge records (and a tree) keep the mode of the file they come
--- from. Without permissions, a content file is 0644 and a source keeps
--- its own mode (ALIC's rule).
---@param files? imgrecipe.LiveFile[]
---@param dir string host directory (created when needed)
---@return {source: string, path: string}[]
function M.stage_files(files, dir)
  local out = {}
  for i, f in ipairs(files or {}) do
    validate(string.format("opts.files[%d].path", i), f.path, "string")
    local mode = M.file_mode(f.permissions, string.format("opts.files[%d].permissions", i))
    local source = f.source
    if f.content ~= nil or mode then
      mkdir_host(dir)
      local staged = string.format("%s/file-%d", dir, i)
      if f.content ~= nil then
        validate(string.format("opts.files[%d].content", i), f.content, "string")
        write_host(staged, f.content)
      else
        validate(string.format("opts.files[%d].source", i), source, "string")
        copy_host(source, staged)
      end
      sys.chmod(staged, mode or tonumber("644", 8))
      source = staged
    end
    validate(string.format("opts.files[%d].source", i), source, "string")
    out[#out + 1] = { source = source, path = f.path }
  end
  return out
end

--- A file mode from an additionalFiles `permissions` value: an octal string
--- ("0755", "644") or a number; nil when absent.
---@param v any
---@param name string the field, for the error
---@return integer|nil
function M.file_mode(v, name)
  if v == nil then return nil end
  local n
  if type(v) == "string" and v:match("^[0-7]+$") and #v <= 4 then n = tonumber(v, 8)
  elseif type(v) == "number" and v >= 0 and v <= 4095 and v % 1 == 0 then n = v end
  if not n then util.raise("usage", string.format("%s '%s': expected an octal mode such as \"0755\"", name, tostring(v))) end
  return n
end

---@class imgrecipe.LiveSaved
---@field extra_args string[] the iso.kernelCommandLine arguments of the earlier runs
---@field initramfs_type string
---@field kernel_version? string

--- The saved-configs file of a LiveOS ISO made by imgrecipe (what a later
--- ISO → ISO run keeps). Fails when the ISO has none: it is not such media.
---@param path string ISO file
---@param work_dir string host directory for the temporary read
---@return imgrecipe.LiveSaved
function M.read_saved(path, work_dir)
  validate("path", path, "string")
  validate("work_dir", work_dir, "string")
  local found = false
  for _, e in ipairs(iso.list(path)) do found = found or e.path == M.SAVED_CONFIGS end
  if not found then
    util.raise("config", string.format("ISO input %s: no %s: only LiveOS ISOs made by imgrecipe (or ALIC) can be "
      .. "re-customized", path, M.SAVED_CONFIGS))
  end
  local doc = util.annotate(string.format("ISO input %s: %s", path, M.SAVED_CONFIGS), json.decode,
    iso.read_file(path, M.SAVED_CONFIGS, work_dir))
  local i = type(doc) == "table" and doc.iso or {}
  local args = ((type(i) == "table" and i.kernelCommandLine) or {}).extraCommandLine or {}
  if type(args) ~= "table" then
    util.raise("config", string.format("ISO input %s: %s: iso.kernelCommandLine.extraCommandLine is not a list", path,
      M.SAVED_CONFIGS))
  end
  return { extra_args = args, initramfs_type = i.initramfsType or "bootstrap", kdump_boot_files = i.kdumpBootFiles,
           kernel_version = type(doc.os) == "table" and doc.os.kernelVersion or nil }
end

-- Appends `args` to every `linux` line of a grub.cfg text.
local function append_linux_args(text, args)
  local n
  text, n = text:gsub("(\n%s*linux%s[^\n]*)", function(line) return line .. " " .. grub.quote_args(args) end)
  if n == 0 then util.raise("config", "LiveOS ISO input: its grub.cfg has no linux line") end
  return text
end

---@class imgrecipe.LiveRepackOpts
---@field work_dir string host directory for the media tree (created; a build directory)
---@field extra_args? string[] kernel arguments added after the saved ones, and saved with them
---@field files? imgrecipe.LiveFile[] files added to the media (replacing a file at the same path)
---@field timestamp? integer reproducible dates in the ISO

--- Re-customizes a LiveOS ISO made by imgrecipe without rebuilding its
--- root: the media tree is copied as it is (LiveOS/rootfs.img, kernel and
--- initramfs byte for byte, the same boot images and label), the new
--- arguments are appended to grub.cfg's kernel lines and to the saved ones,
--- the new files are added, and `output` is written atomically.
--- Returns `{volume_id=, args=}` (args: every saved argument, new ones last).
---@param input string LiveOS ISO (liveos.build)
---@param output string
---@param opts imgrecipe.LiveRepackOpts
---@return table
function M.repackage(input, output, opts)
  util.check_options("liveos.repackage", opts, { "work_dir", "extra_args", "files", "timestamp" })
  util.check_option_list("liveos.repackage", "files", opts and opts.files, { "source", "content", "path", "permissions" })
  validate("input", input, "string")
  validate("output", output, "string")
  validate("opts", opts, "table")
  validate("opts.work_dir", opts.work_dir, "string")
  validate("opts.extra_args", opts.extra_args, "table", true)
  validate("opts.files", opts.files, "table", true)
  local new_args = opts.extra_args or {}
  grub.check_kernel_args(new_args)
  local w = opts.work_dir
  mkdir_host(w)
  local saved = M.read_saved(input, w)
  local volume_id = iso.volume_id(input)
  local report = iso.boot_report(input)

  local media = w .. "/media"
  iso.extract(input, "/", media)
  local grub_cfg = media .. M.GRUB_DIR .. "/grub.cfg"
  local live_root = saved.initramfs_type == "full-os" and media .. "/boot/initrd.img"
      or media .. "/" .. M.LIVE_DIR .. "/" .. M.ROOTFS_NAME
  if sys.kind(grub_cfg) ~= "file" or sys.kind(live_root) ~= "file" then
    util.raise("config", string.format("ISO input %s: no %s/grub.cfg or /%s/%s: not a LiveOS ISO made by imgrecipe",
      input, M.GRUB_DIR, M.LIVE_DIR, M.ROOTFS_NAME))
  end
  local f = assert(io.open(grub_cfg, "r"))
  local text = f:read("*a")
  f:close()
  if #new_args > 0 then text = append_linux_args(text, new_args) end
  os.remove(grub_cfg)
  write_host(grub_cfg, text)

  local all = {}
  for _, a in ipairs(saved.extra_args) do all[#all + 1] = a end
  for _, a in ipairs(new_args) do all[#all + 1] = a end
  os.remove(media .. M.SAVED_CONFIGS)
  write_host(media .. M.SAVED_CONFIGS, M.saved_configs({ extra_args = all, initramfs_type = saved.initramfs_type,
                                                         kernel_version = saved.kernel_version,
                                                         kdump_boot_files = saved.kdump_boot_files }))

  -- The boot setup as it was: the same EFI FAT image, the same GRUB El
  -- Torito image (taken out of the tree: iso.write places it), a fresh catalog.
  local boot_dir = w .. "/boot-images"
  local efi_image
  for _, name in ipairs(iso.extract_boot_images(input, boot_dir)) do
    if name:match("_uefi%.img$") and not efi_image then efi_image = boot_dir .. "/" .. name end
  end
  local bios
  for _, e in ipairs(report.entries) do
    if e.platform == "BIOS" and e.path ~= "" and not bios then
      bios = { image = w .. "/eltorito.img", path = e.path }
      rename_host(media .. e.path, bios.image)
      if #report.mbr > 0 then bios.hybrid_mbr = iso.hybrid_mbr() end
    end
  end
  if report.catalog_path and report.catalog_path ~= "" then os.remove(media .. report.catalog_path) end

  local files = M.stage_files(opts.files, w .. "/files")
  for _, file in ipairs(files) do
    -- A new file replaces the media's own at that path.
    if sys.kind(media .. file.path) == "file" then os.remove(media .. file.path) end
  end
  iso.write(output, { volume_id = volume_id, tree = media, files = files, efi_boot_image = efi_image, bios = bios,
                      timestamp = opts.timestamp })
  log.info("LiveOS ISO %s re-packaged from %s (root unchanged): saved arguments %s, added %s", output, input,
    table.concat(saved.extra_args, " "), table.concat(new_args, " "))
  require("imgrecipe.outputs").record(output, "iso")
  return { volume_id = volume_id, args = all }
end

-- The arguments of a LiveOS grub.cfg's first kernel line that came from the
-- image (neither the live ones, selinux=0, nor the saved ones at its end).
local function media_image_args(text, volume_id, saved)
  local line = text:match("\n%s*linux%s+(%S+[^\n]*)")
  if not line then util.raise("config", "LiveOS ISO input: its grub.cfg has no linux line") end
  local args = grub.split_args(line)
  table.remove(args, 1)
  local n = #args - #saved
  for i = 1, #saved do
    if args[n + i] ~= saved[i] then n = #args; break end
  end
  local live = {}
  for _, a in ipairs(M.live_args(volume_id)) do live[a] = true end
  local out = {}
  for i = 1, n do
    if not live[args[i]] and args[i] ~= "selinux=0" then out[#out + 1] = args[i] end
  end
  return out
end

---@class imgrecipe.LiveIsoRoot
---@field disk imgrecipe.Disk the working disk (release it with disk:release(), root:close())
---@field root imgrecipe.DiskRoot mounted read-write
---@field saved imgrecipe.LiveSaved
---@field volume_id string
---@field image_args string[] the image's own kernel arguments, as the media's grub.cfg has them
---@field files imgrecipe.LiveFile[] the media's own files (earlier additionalFiles), extracted into work_dir

--- Rebuilds a writable OS from a LiveOS ISO made by imgrecipe, to customize
--- it and build the ISO again (as ALIC does): a new raw disk in `work_dir`
--- with one ext4 root, the ISO's LiveOS/rootfs.img extracted into it
--- (unsquashfs: modes, owners, xattrs), or for a full-os ISO its
--- /boot/initrd.img (fullos.extract: modes, owners; cpio has no xattrs),
--- and the media's kernel put back in /boot. Pass `image_args`,
--- `saved.extra_args` (as saved_args), `volume_id` and `files` (before the
--- new ones) to liveos.build so the rebuilt ISO keeps the arguments and the
--- media's files.
---@param input string LiveOS ISO
---@param work_dir string host directory (created; a build directory)
---@return imgrecipe.LiveIsoRoot
function M.open_iso_root(input, work_dir)
  validate("input", input, "string")
  validate("work_dir", work_dir, "string")
  local w = work_dir
  mkdir_host(w)
  local saved = M.read_saved(input, w)
  local volume_id = iso.volume_id(input)
  local kver = saved.kernel_version
  if not kver then util.raise("config", string.format("ISO input %s: %s has no os.kernelVersion", input, M.SAVED_CONFIGS)) end
  -- The root's archive: the squashfs (bootstrap) or the initramfs that is
  -- the whole OS (full-os).
  local full = saved.initramfs_type == "full-os"
  local media = w .. "/media"
  mkdir_host(media)
  local archive_path = full and "/boot/initrd.img" or "/" .. M.LIVE_DIR .. "/" .. M.ROOTFS_NAME
  local archive = media .. "/" .. (full and "initrd.img" or M.ROOTFS_NAME)
  iso.extract(input, archive_path, archive)
  iso.extract(input, "/boot/vmlinuz-" .. kver, media .. "/vmlinuz")
  local cfg = iso.read_file(input, M.GRUB_DIR .. "/grub.cfg", w)
  -- The media's own files (earlier iso.additionalFiles): everything but
  -- what the LiveOS build writes again.
  local carried = {}
  local catalog = iso.boot_report(input).catalog_path
  for _, e in ipairs(iso.list(input)) do
    local p = e.path
    if e.type == "-" and p:sub(1, 6) ~= "/boot/" and p:sub(1, #M.LIVE_DIR + 2) ~= "/" .. M.LIVE_DIR .. "/"
        and p ~= M.SAVED_CONFIGS and p ~= catalog then
      local dest = string.format("%s/file-%d", media, #carried + 1)
      iso.extract(input, p, dest)
      carried[#carried + 1] = { source = dest, path = p }
    end
  end

  -- Room for the tree and as much again for the customization (sparse).
  -- (A full-os initramfs is checked whole here, before any disk is made.)
  local bytes = 0
  if full then
    bytes = fullos.scan(archive).bytes
  else
    for _, e in ipairs(squashfs.list(archive)) do bytes = bytes + (e.size or 0) end
  end
  local mib = 1024 * 1024
  local size = math.ceil((bytes * 2 + 4096 * mib) / mib) * mib
  local disk = require("imgrecipe.disk")
  local d = disk.create(w .. "/root.raw", size)
  local ok, err = pcall(function()
    d:partition({ partitions = { { id = "root", type = "root", size = "grow" } } })
    d:format("root", { type = "ext4", label = "rootfs" })
    local root = d:mount({ ["/"] = "root" })
    if full then
      fullos.extract(archive, root)
    else
      local top = squashfs.tree_path(root)
      local tmp = top .. "/.imgrecipe-live-root"
      squashfs.extract(archive, tmp)
      for _, name in ipairs(root:list_dir("/.imgrecipe-live-root")) do
        -- ext4's own lost+found is empty: rename(2) replaces an empty directory.
        rename_host(tmp .. "/" .. name, top .. "/" .. name)
      end
      local removed, rerr = os.remove(tmp)
      if not removed then util.raise("system", "cannot remove " .. tmp .. ": " .. tostring(rerr)) end
    end
    root:mkdir("/boot")
    root:copy_file(media .. "/vmlinuz", "/boot/vmlinuz-" .. kver, { mode = "0644" })
  end)
  os.remove(archive)
  if not ok then
    d:release()
    error(err, 0)
  end
  log.info("ISO input %s: root rebuilt from %s on a %d MiB working disk", input, archive_path, math.floor(size / mib))
  return { disk = d, root = d:root(), saved = saved, volume_id = volume_id, files = carried,
           image_args = media_image_args(cfg, volume_id, saved.extra_args) }
end

return M
