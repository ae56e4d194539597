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
local BIN_DIRS = { "/usr/bin", "/usr/sbin", "/bin", "/sbin" }
-- Where the host work directory is seen inside the image while commands run.
local BIND = "/.imgrecipe-liveos"

local function find_tool(root, names)
  for _, name in ipairs(names) do
    for _, d in ipairs(BIN_DIRS) do
      if root:exists(d .. "/" .. name) then return d .. "/" .. name end
    end
  end
end

local function write_host(path, text)
  local f, err = io.open(path, "w")
  if not f then util.raise("system", "cannot write " .. path .. ": " .. tostring(err)) end
  f:write(text)
  f:close()
end

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
--- are dropped.
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
        local drop = false
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

--- The media's grub.cfg: one entry that finds the media by its label and
--- boots the live root.
---@param spec imgrecipe.LiveGrubSpec
---@return string
function M.grub_config(spec)
  validate("spec", spec, "table")
  local args = M.live_args(spec.volume_id)
  for _, a in ipairs(spec.args or {}) do args[#args + 1] = a end
  grub.check_kernel_args(args)
  local title = (spec.title or "Live system"):gsub("[\"\\$`]", "")
  return table.concat({
    "# LiveOS media, written by imgrecipe",
    "set default=0",
    "set timeout=1",
    'menuentry "' .. title .. '" {',
    "\tsearch --no-floppy --set=root --label " .. spec.volume_id,
    "\tlinux\t" .. spec.kernel .. " " .. table.concat(args, " "),
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
---@param spec {extra_args: string[], initramfs_type: string, kernel_version: string}
---@return string
function M.saved_configs(spec)
  local args = {}
  for i, a in ipairs(spec.extra_args or {}) do args[i] = a end
  local doc = json.ordered({
    iso = json.ordered({
      kernelCommandLine = json.ordered({ extraCommandLine = args },
        { "extraCommandLine" }),
      initramfsType = spec.initramfs_type,
    }, { "kernelCommandLine", "initramfsType" }),
    os = json.ordered({ kernelVersion = spec.kernel_version }, { "kernelVersion" }),
  }, { "iso", "os" })
  return "# imgrecipe LiveOS saved configuration (YAML)\n" .. json.encode(doc) .. "\n"
end

-- Runs `argv` in the image with the host directory `dir` visible at BIND.
local function run_bound(root, dir, argv, step)
  return root:run(argv, { binds = { { host = dir, image = BIND, read_only = false } }, network = false, step = step })
end

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
    "--filesystems", "squashfs iso9660", BIND .. "/" .. name,
  }, "dracut")
  run_bound(root, dir, { "/bin/cp", "-L", "--", kernel_path, BIND .. "/vmlinuz" }, "kernel")
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
---@field initramfs_type? string "bootstrap" (default); "full-os" is not supported yet
---@field selinux_mode? string the SELinux mode the config asked for: an enabled one is an error
---@field bios? boolean also boot on BIOS (CD and disk) with the host's GRUB i386-pc (default: when the host has it)
---@field compression_level? integer zstd level of the squashfs (default mksquashfs's)
---@field timestamp? integer reproducible dates in the squashfs and the ISO
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
  validate("root", root, "table")
  validate("output", output, "string")
  validate("opts", opts, "table")
  validate("opts.work_dir", opts.work_dir, "string")
  validate("opts.volume_id", opts.volume_id, "string", true)
  validate("opts.extra_args", opts.extra_args, "table", true)
  validate("opts.saved_args", opts.saved_args, "table", true)
  validate("opts.files", opts.files, "table", true)
  local initramfs_type = opts.initramfs_type or "bootstrap"
  if initramfs_type == "full-os" then
    util.raise("unsupported", "LiveOS ISO: initramfsType full-os is not supported yet (use bootstrap)")
  elseif initramfs_type ~= "bootstrap" then
    util.raise("usage", string.format("initramfs_type: expected bootstrap or full-os, got '%s'", tostring(initramfs_type)))
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
  M.check_dracut(root)

  -- SELinux: the live root is not labelled for it (alic-reference §4.11 step 5).
  M.check_selinux_request(opts.selinux_mode)
  local selinux_on = selinux.current_mode(root) ~= "disabled"
  if selinux_on then log.warn("LiveOS ISO: SELinux is disabled on the live media (selinux=0)") end
  local args = M.boot_args(M.image_args(root), selinux_on, extra)

  local w = opts.work_dir
  local media, esp = w .. "/media", w .. "/esp"
  for _, d in ipairs({ w, media, media .. "/boot", media .. M.GRUB_DIR, esp }) do mkdir_host(d) end
  local initrd_name = "initrd.img"
  M.initramfs(root, k.version, k.path, media .. "/boot", initrd_name, opts.dracut_modules)
  rename_host(media .. "/boot/vmlinuz", media .. "/boot/vmlinuz-" .. k.version)
  rename_host(media .. "/boot/" .. initrd_name, media .. "/boot/initrd.img-" .. k.version)

  local vars = osrelease.read(root)
  write_host(media .. M.GRUB_DIR .. "/grub.cfg", M.grub_config({
    volume_id = volume_id, kernel = "/boot/vmlinuz-" .. k.version, initrd = "/boot/initrd.img-" .. k.version,
    args = args, title = (vars.PRETTY_NAME or vars.NAME or "Linux") .. " (live)",
  }))
  local saved = media .. M.SAVED_CONFIGS
  mkdir_host(util.dirname(saved))
  write_host(saved, M.saved_configs({ extra_args = extra, initramfs_type = initramfs_type,
                                      kernel_version = k.version }))

  -- Boot loaders: UEFI through the FAT image, BIOS through GRUB's El Torito image.
  local early = w .. "/early.cfg"
  write_host(early, M.early_config(volume_id))
  log.info("EFI loader built by %s", M.efi_loader(root, esp, early))
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
  -- (kernel and initramfs are on the media).
  root:write_file("/etc/fstab", M.LIVE_FSTAB, { mode = "0644" })
  squashfs.create(root, w .. "/" .. M.ROOTFS_NAME, {
    exclude = { "/boot/*", "/proc/*", "/sys/*", "/dev/*", "/run/*", "/tmp/*", "/var/tmp/*", BIND },
    level = opts.compression_level, timestamp = opts.timestamp,
  })

  local files = { { source = w .. "/" .. M.ROOTFS_NAME, path = "/" .. M.LIVE_DIR .. "/" .. M.ROOTFS_NAME } }
  for i, f in ipairs(opts.files or {}) do
    validate(string.format("opts.files[%d].path", i), f.path, "string")
    local source = f.source
    if f.content ~= nil then
      source = string.format("%s/file-%d", w, i)
      write_host(source, f.content)
    end
    validate(string.format("opts.files[%d].source", i), source, "string")
    files[#files + 1] = { source = source, path = f.path }
  end
  iso.write(output, {
    volume_id = volume_id, tree = media, files = files,
    efi_boot_image = w .. "/efiboot.img", bios = bios, timestamp = opts.timestamp,
  })
  log.info("LiveOS ISO %s: kernel %s, label %s, arguments: %s", output, k.version, volume_id, table.concat(args, " "))
  return { kernel = k.version, volume_id = volume_id, args = args, media = media,
           kernel_file = media .. "/boot/vmlinuz-" .. k.version, initrd_file = media .. "/boot/initrd.img-" .. k.version }
end

return M
