--- ALIC's customization as stdlib calls: `plan` turns a loaded config into
--- steps of plain data (which call, with which literal arguments, from
--- which YAML key), and a `Job` runs the parts that depend on the image
--- (open, partitions, boot loader, output). `imgrecipe build` runs a plan
--- (recipes/yaml.lua); `imgrecipe translate` prints the same plan as a Lua
--- recipe (imgrecipe.translate), so both paths make the same calls.
-- @module imgrecipe.alic
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"
local sys = require "imgrecipe.host.sys"
local image = require "imgrecipe.image"
local history = require "imgrecipe.history"
local storage = require "imgrecipe.storage"
local uuids = require "imgrecipe.uuids"
local cosi = require "imgrecipe.cosi"
local liveos = require "imgrecipe.liveos"
local pxe = require "imgrecipe.pxe"
local overlays = require "imgrecipe.overlays"
local diskboot = require "imgrecipe.diskboot"
local iso = require "imgrecipe.iso"
local verityboot = require "imgrecipe.verityboot"
local artifacts = require "imgrecipe.artifacts"
local uki = require "imgrecipe.uki"
local selinux = require "imgrecipe.selinux"

local M = {}

local function resolve(dir, path)
  if path == nil then return nil end
  return sys.absolute(util.join(dir, path))
end

-- The `os` table of one config of the chain (never nil).
local function os_of(c)
  return (c.data and c.data.os) or {}
end

--- Fails on known ALIC keys imgrecipe does not implement yet, never
--- silently ignoring them.
---@param cfg table a config loaded by imgrecipe.host.config.load
function M.check_supported(cfg)
  if #(cfg.unsupported or {}) == 0 then return end
  local lines = {}
  for _, u in ipairs(cfg.unsupported) do
    lines[#lines + 1] = string.format("%s:%d:%d: not supported yet: %s", u.path or cfg.path, u.line, u.column, u.key)
  end
  util.raise("unsupported", table.concat(lines, "\n"))
end

---------------------------------------------------------------------------
-- Job: the structural part of a run, and the steps that need its state.
---------------------------------------------------------------------------

---@class imgrecipe.AlicJobOpts
---@field input string input image (a disk image, or a LiveOS ISO made by imgrecipe)
---@field output string output path
---@field format string output format
---@field storage? table storage section building a new layout (storage.disks), ALIC's keys
---@field reset_uuids? boolean storage.resetPartitionsUuidsType: reset-all
---@field iso? table iso section options (extra_args, files, initramfs_type, kdump_boot_files)
---@field pxe? table pxe section options (extra_args, files, initramfs_type, kdump_boot_files, bootstrap_base_url, bootstrap_file_url)
---@field selinux_mode? string os.selinux.mode
---@field remove_package_manager? boolean os.packages.removePackageManager (checked against the format)
---@field cosi_level? integer output.image.cosi.compression.level
---@field storage_changes? boolean a storage section is present (refused with an ISO input)
---@field reinitialize_verity? boolean storage.reinitializeVerity: all (an input with verity is re-hashed)
---@field hard_reset? boolean os.bootloader.resetType: hard-reset (refused on a read-only verity input)
---@field preview_features? string[] previewFeatures (reinitialize-verity gates a verity input)
---@field uki_mode? string os.uki.mode ("" when os.uki has none; nil without os.uki): create, passthrough, modify
---@field artifacts? table output.artifacts: `{path=, items=}` (path absolute), exported after verity
---@field verity_existing? imgrecipe.VerityExistingSpec[] storage.verity with dataDevice/hashDevice: verity added to the input's partitions

---@class imgrecipe.AlicJob
---@field ctx imgrecipe.Context
---@field opts imgrecipe.AlicJobOpts
---@field img imgrecipe.Image|nil the image being customized (nil: an ISO only re-packaged)
local Job = {}
Job.__index = Job

--- A job for one run; `job:open()` then the steps then `job:finish()`.
---@param ctx imgrecipe.Context
---@param opts imgrecipe.AlicJobOpts
---@return imgrecipe.AlicJob
function M.job(ctx, opts)
  util.validate("opts", opts, "table")
  if not opts.input then
    util.raise("usage", "no input image: set input.image.path in the config or pass --image-file")
  end
  if not opts.output then
    util.raise("usage", "no output path: set output.image.path in the config or pass --output-image-file")
  end
  if not opts.format then
    util.raise("usage", "no output format: set output.image.format in the config or pass --output-image-format")
  end
  return setmetatable({ ctx = ctx, opts = opts, input = sys.absolute(opts.input), output = sys.absolute(opts.output),
                        format = opts.format }, Job)
end

-- ALIC refuses removePackageManager with an output that still needs the
-- package manager's database (alic-reference §5.5).
function Job:_check_remove_package_manager()
  local refused = { iso = true, ["pxe-dir"] = true, ["pxe-tar"] = true, cosi = true, ["baremetal-image"] = true }
  if self.opts.remove_package_manager and refused[self.format] then
    util.raise("usage", string.format("os.packages.removePackageManager cannot be used with the '%s' output format",
      self.format))
  end
end

-- Whether pxe options name a bootstrap URL (base or file).
local function has_bootstrap_url(o)
  return (o.bootstrap_base_url or "") ~= "" or (o.bootstrap_file_url or "") ~= ""
end

-- An ISO input's own media files, then the config's: a new file at the same
-- path replaces the media's.
local function media_files(old, new)
  local files, replaced = {}, {}
  for _, f in ipairs(new) do replaced[f.path] = true end
  for _, f in ipairs(old) do
    if not replaced[f.path] then files[#files + 1] = f end
  end
  for _, f in ipairs(new) do files[#files + 1] = f end
  return files
end

-- The options of liveos.build / pxe.build, checked (ALIC's messages).
function Job:_iso_options()
  local o = self.opts.iso or {}
  liveos.check_selinux_request(self.opts.selinux_mode)
  local files = {}
  for _, f in ipairs(o.files or {}) do
    files[#files + 1] = { source = f.source, content = f.content, path = f.path, permissions = f.permissions }
  end
  return { extra_args = o.extra_args or {}, files = files, initramfs_type = o.initramfs_type,
           kdump_boot_files = o.kdump_boot_files, selinux_mode = self.opts.selinux_mode }
end

-- initramfsType full-os is ALIC's PXE default; without an explicit type, a
-- bootstrap URL selects bootstrap (imgrecipe.pxe).
function Job:_pxe_options()
  local p = self.opts.pxe or {}
  liveos.check_selinux_request(self.opts.selinux_mode)
  local files = {}
  for _, f in ipairs(p.files or {}) do
    files[#files + 1] = { source = f.source, content = f.content, path = f.path, permissions = f.permissions }
  end
  -- Checked now, not after the customization.
  local has_url = has_bootstrap_url(p)
  if p.initramfs_type == "bootstrap" or (p.initramfs_type == nil and has_url) then
    pxe.bootstrap_url(p.bootstrap_base_url, p.bootstrap_file_url)
  end
  return { format = self.format, extra_args = p.extra_args or {}, files = files,
           initramfs_type = p.initramfs_type, kdump_boot_files = p.kdump_boot_files,
           bootstrap_base_url = p.bootstrap_base_url, bootstrap_file_url = p.bootstrap_file_url,
           selinux_mode = self.opts.selinux_mode }
end

-- ISO input (alic-reference §4.11, §5.5): a LiveOS ISO made by imgrecipe,
-- re-customized into an ISO; with no OS change only re-packaged.
function Job:_open_iso(os_changes)
  local format, ctx = self.format, self.ctx
  if format ~= "iso" and format ~= "pxe-dir" and format ~= "pxe-tar" then
    util.raise("usage", string.format("cannot generate output format from input format (output='%s', input='iso'): "
      .. "an ISO input can only produce iso, pxe-dir or pxe-tar", format))
  end
  if self.opts.storage_changes then
    util.raise("usage", "cannot customize partitions when input is ISO (remove the storage section)")
  end
  self.iso_input = true
  if format ~= "iso" then
    -- PXE from a LiveOS ISO: the root is rebuilt from the media (always),
    -- the config's OS changes applied, and the PXE build runs on it with the
    -- media's arguments and files kept. initramfsType follows the input
    -- ISO's unless the config sets one (ALIC's rule); checked before the
    -- root is rebuilt.
    self:_check_remove_package_manager()
    local opts = self:_pxe_options()
    pxe.check_output(self.output, format, self.input)
    if opts.initramfs_type == nil then
      local has_url = has_bootstrap_url(opts)
      opts.initramfs_type = has_url and "bootstrap" or liveos.read_saved(self.input, ctx.work_dir).initramfs_type
    end
    if opts.initramfs_type == "bootstrap" then pxe.bootstrap_url(opts.bootstrap_base_url, opts.bootstrap_file_url) end
    self.pxe_opts = opts
    ctx:step("open iso", function() self.live = liveos.open_iso_root(self.input, ctx.work_dir .. "/iso-root") end)
    if not os_changes then return nil end
    self.img = self.live.root
    return self.img
  end
  self.iso_opts = self:_iso_options()
  self:_check_remove_package_manager()
  image.check_output(self.output, "raw", { input = self.input })
  if not os_changes then return nil end
  ctx:step("open iso", function() self.live = liveos.open_iso_root(self.input, ctx.work_dir .. "/iso-root") end)
  self.img = self.live.root
  return self.img
end

--- Checks the output, opens the input (with a new layout: builds the new
--- disk and copies the OS in; with reset-all: resets every id) and returns
--- the image to customize; nil for an ISO input with no OS change
--- (`os_changes` false), which `finish` only re-packages.
---@param os_changes? boolean whether the steps change the OS (default true)
---@return imgrecipe.Image|nil
function Job:open(os_changes)
  local ctx, opts, format, input, output = self.ctx, self.opts, self.format, self.input, self.output
  if os_changes == nil then os_changes = true end
  if sys.kind(input) == "file" and iso.is_iso(input) then return self:_open_iso(os_changes) end
  self.is_cosi = format == "cosi" or format == "baremetal-image"
  self.is_iso = format == "iso"
  self.is_pxe = format == "pxe-dir" or format == "pxe-tar"
  self.iso_opts = self.is_iso and self:_iso_options() or nil
  self.pxe_opts = self.is_pxe and self:_pxe_options() or nil
  -- Before any conversion: a bad output fails now, not after the whole build.
  if self.is_pxe then
    pxe.check_output(output, format, input)
  else
    image.check_output(output, self.is_iso and "raw" or format, { input = input })
  end
  self.level = cosi.parse_level(ctx.params.cosi_compression_level, "--cosi-compression-level") or opts.cosi_level
  self:_check_remove_package_manager()
  if opts.artifacts then artifacts.check_dir(opts.artifacts.path) end
  self:_uki_supported()
  local st = opts.storage and opts.storage.disks and #opts.storage.disks > 0 and opts.storage or nil
  self.layout = st
  local img
  ctx:step("open", function()
    -- A new layout only reads the input (ALIC mounts it read-only), so its
    -- working copy is never the output. Ids are reset before mounting, on a
    -- working copy in the build directory (the only place the reset writes).
    -- reinitializeVerity re-hashes the working copy as a Disk, which must be in the build directory.
    local in_place = not st and not opts.reset_uuids and not self.is_cosi and not self.is_iso and not self.is_pxe
        and not opts.reinitialize_verity and not opts.verity_existing
    img = ctx:open(input, in_place and { output = output, output_format = format } or nil)
    if not opts.reset_uuids then
      img:mount(st and { read_only = true } or { verity_writable = opts.reinitialize_verity or nil })
      if not st then self:_check_existing_verity(img) end
    end
    if opts.verity_existing then
      if opts.reset_uuids then
        util.raise("usage", "storage.resetPartitionsUuidsType cannot be combined with verity on existing partitions (dataDevice/hashDevice)")
      end
      self.verity_existing = verityboot.existing_partitions(img, opts.verity_existing)
    end
  end)
  -- §4.1 step 13 (customizePartitions).
  if opts.reset_uuids then
    ctx:step("reset uuids", function() self.id_changes = uuids.reset_all(img) end)
  elseif st then
    ctx:step("storage", function()
      self.new_disk = storage.build(img, st, { path = ctx.work_dir .. "/storage-disk.raw" })
      img:close()
    end)
    img = self.new_disk:root()
  end
  self.img = img
  -- §4.1 step 14 (validateUkiMode), on the mounted image before any change.
  if opts.uki_mode ~= nil or uki.has_ukis(img) then
    ctx:step("uki check", function()
      uki.check_mode(img, opts.uki_mode)
      -- §4.2 step 2: modify starts from the addons' command lines, read before the packages.
      if opts.uki_mode == "modify" then self.uki_cmdlines = uki.addon_cmdlines(img) end
    end)
  end
  return img
end

-- Before the build: os.uki values imgrecipe does not implement, and ALIC's
-- refusal of UKI images for the LiveOS outputs (§4.11).
function Job:_uki_supported()
  local mode = self.opts.uki_mode
  -- The new root hash would have to reach the addons' command line, which
  -- modify does not rewrite from a re-hash.
  if mode == "modify" and self.opts.reinitialize_verity then
    util.raise("usage", "os.uki.mode: modify cannot be combined with storage.reinitializeVerity (use mode: create, "
      .. "which rebuilds the UKIs with the new root hash)")
  end
  if (mode == "create" or mode == "" or mode == "modify") and (self.is_iso or self.is_pxe) then
    util.raise("usage", string.format("os.uki: the %s output cannot be made from an image with UKIs", self.format))
  end
end

--- [os] §4.2 step 1: overrides /etc/resolv.conf for the customization (step 21 restores it).
function Job:override_resolv_conf()
  self.ctx:step("resolv.conf", function() self.saved_resolv_conf = self.img:override_resolv_conf() end)
end

--- [os] §4.2 step 21: restores /etc/resolv.conf as it was (ALIC's rules).
function Job:restore_resolv_conf()
  if self.saved_resolv_conf then
    self.ctx:step("restore resolv.conf", function() self.img:restore_resolv_conf(self.saved_resolv_conf) end)
  end
end

-- The sources of the image's package manager family; the other family's
-- flags are an error (as ALIC rejects --rpm-source for Ubuntu).
local function package_sources(params, manager)
  local mine, other = "rpm", "deb"
  if manager == "apt-get" then mine, other = "deb", "rpm" end
  if #(params[other .. "_sources"] or {}) > 0 or params["disable_base_image_" .. other .. "_repos"] then
    util.raise("usage", string.format("--%s-source/--disable-base-image-%s-repos given, but the image uses %s: use --%s-source/--disable-base-image-%s-repos",
      other, other, manager, mine, mine))
  end
  return params[mine .. "_sources"] or {}, params["disable_base_image_" .. mine .. "_repos"] == "true"
end

--- [packages] §4.2 step 3: img:packages(spec) with the package manager and
--- sources of the run's parameters (package_manager, rpm_sources,
--- deb_sources, disable_base_image_rpm_repos, disable_base_image_deb_repos).
---@param spec table remove, update_existing, install, update
function Job:packages(spec)
  local params = self.ctx.params
  local s = {}
  for k, v in pairs(spec) do s[k] = v end
  s.manager = params.package_manager or self.img:package_manager()
  s.sources, s.disable_base_repos = package_sources(params, s.manager)
  self.img:packages(s)
end

--- [packages] §4.2 step 20: removes the package manager.
function Job:remove_package_manager()
  self.img:remove_package_manager({ manager = self.ctx.params.package_manager })
end

--- [os] §4.2 step 11: /etc/image-customizer-release.
function Job:write_release_file()
  self.build_info = self.build_info or history.new_build()
  self.img:write_release_file(self.build_info)
end

--- [os] §4.2 step 12: appends the config to the image history (file hashes taken now).
---@param data table the config as ALIC records it
---@param dir string the config's directory (relative sources)
function Job:append_history(data, dir)
  if self:_read_only_path(history.HISTORY_DIR) then return end
  self.build_info = self.build_info or history.new_build()
  self.img:append_history(self.build_info, history.config_record(data, dir))
end

-- Whether `path` is on a read-only mount of the image (an existing verity
-- filesystem): ALIC then skips the image history.
function Job:_read_only_path(path)
  local best
  for _, m in ipairs(self.img.mounts and self.img:mounts() or {}) do
    local t = m.target
    if (t == "/" or path == t or path:sub(1, #t + 1) == t .. "/") and (not best or #t > #best.target) then best = m end
  end
  if best and best.read_only then
    log.info("image history not written: %s is on the read-only %s", path,
      best.verity and ("dm-verity '" .. best.verity .. "' filesystem") or best.target)
    return true
  end
  return false
end

-- An input that already uses dm-verity (alic-reference §4.7, §5.2): its
-- data partitions are mounted directly, read-only unless reinitializeVerity
-- is all. ALIC requires the reinitialize-verity preview feature for such an
-- input; a read-only root cannot take the customization (/etc is written).
function Job:_check_existing_verity(img)
  local opts = self.opts
  local devices = img:verity()
  if #devices == 0 then return end
  local names = {}
  for i, v in ipairs(devices) do names[i] = "/dev/mapper/" .. v.name end
  local enabled = false
  for _, f in ipairs(opts.preview_features or {}) do enabled = enabled or f == "reinitialize-verity" end
  if not enabled then
    util.raise("usage", string.format("preview feature 'reinitialize-verity' required to customize verity enabled "
      .. "base image (the input opens %s with dm-verity): add it to previewFeatures", table.concat(names, ", ")))
  end
  if opts.hard_reset and not opts.reinitialize_verity then
    util.raise("usage", "os.bootloader.resetType: hard-reset regenerates grub.cfg, which holds the verity arguments of "
      .. "the input (" .. table.concat(names, ", ") .. "): set storage.reinitializeVerity: all so they are written again")
  end
  for _, v in ipairs(devices) do
    if v.name == "root" and not opts.reinitialize_verity then
      util.raise("usage", "the input's root filesystem is dm-verity data (/dev/mapper/root): it stays read-only "
        .. "without storage.reinitializeVerity: all, and the customization writes /etc (set "
        .. "storage.reinitializeVerity: all to change it and make its hash tree again)")
    end
  end
  self.existing_verity = true
end

--- §4.2 step 13: a new layout gets its boot loader installed, reset ids
--- their boot files updated, `hard_reset` a new boot configuration; else
--- the extra arguments are appended.
---@param opts table extra_args, selinux_mode, hard_reset
function Job:bootloader(opts)
  local ctx, img = self.ctx, self.img
  local cmdline = opts.extra_args or {}
  local uki_mode = self.opts.uki_mode
  -- §4.2 step 4, after the packages: these modes keep the base image's kernels.
  if uki_mode == "passthrough" or uki_mode == "modify" then
    ctx:step("uki kernel check", function() uki.check_boot_kernels(img, uki_mode) end)
  end
  if self.new_disk then
    local with_verity = #storage.verity_devices(self.layout) > 0
    ctx:step("bootloader", function()
      storage.install_boot(self.new_disk, self.layout,
        { extra_args = cmdline, selinux_mode = opts.selinux_mode, initramfs = not with_verity })
    end)
    if with_verity then
      ctx:step("verity initramfs", function()
        local devices, inline, signature = storage.verity_devices(self.layout), false, false
        for _, v in ipairs(devices) do
          inline = inline or v.hash == nil
          signature = signature or v.hash_signature_path ~= nil
        end
        verityboot.prepare_initramfs(img, { inline = inline, signature = signature })
        for _, v in ipairs(devices) do
          if v.name == "root" then verityboot.set_grub_device(img) end
        end
      end)
    end
  elseif self.id_changes then
    ctx:step("bootloader", function()
      uuids.update_boot(img, self.id_changes, { extra_args = cmdline, selinux_mode = opts.selinux_mode })
    end)
  elseif opts.hard_reset then
    ctx:step("bootloader", function()
      -- ALIC's hard-reset drops the image's own arguments.
      img:reset_bootloader({ extra_args = cmdline, selinux_mode = opts.selinux_mode, keep_args = false })
      -- An input with root verity: its template lost GRUB_DEVICE (the verity
      -- step writes the arguments into grub.cfg afterwards).
      for _, v in ipairs(self.existing_verity and img:verity() or {}) do
        if v.name == "root" then verityboot.set_grub_device(img) end
      end
    end)
  elseif uki_mode == "modify" then
    -- No grub.cfg: the arguments go into the UKIs' addons (uki.modify in finish).
    self.uki_extra_args = cmdline
  elseif #cmdline > 0 then
    ctx:step("kernel command line", function() img:append_kernel_args(cmdline) end)
  end
  -- Two-stage verity (dataDevice/hashDevice): the same chroot steps as a new layout's.
  if self.verity_existing then
    ctx:step("verity initramfs", function()
      verityboot.set_fstab(img, self.verity_existing)
      local signature = false
      for _, v in ipairs(self.verity_existing) do signature = signature or v.hash_signature_path ~= nil end
      verityboot.prepare_initramfs(img, { signature = signature })
      for _, v in ipairs(self.verity_existing) do
        if v.name == "root" then verityboot.set_grub_device(img) end
      end
    end)
  end
end

--- [os] §4.2 step 14: sets the SELinux mode (nil: keeps the image's); the
--- mode in effect decides the relabel.
---@param mode string|nil
---@param opts? table boot_args (default true)
function Job:selinux(mode, opts)
  local modify = self.opts.uki_mode == "modify"
  if mode and mode ~= "" then
    -- modify: the arguments go into the UKIs' addons (uki.modify in finish).
    if modify then opts = { boot_args = false }; self.uki_selinux_mode = mode end
    self.ctx:step("selinux", function() self.img:set_selinux_mode(mode, opts) end)
    self.selinux_mode = mode
  elseif modify then
    -- The command line is the addons' (ALIC reads the first UKI's).
    local cmdlines, first = self.uki_cmdlines or {}, nil
    for k in pairs(cmdlines) do if not first or k < first then first = k end end
    local text = uki.edit_cmdline(first and cmdlines[first] or "", { extra_args = self.uki_extra_args })
    self.selinux_mode = selinux.current_mode(self.img, uki.split_cmdline(text))
  else
    self.selinux_mode = self.img:selinux_mode()
  end
end

--- [os] §4.2 step 15: overlays (imgrecipe.overlays.apply) with the SELinux mode in effect.
---@param specs table[]
function Job:overlays(specs)
  overlays.apply(self.img, specs, { selinux_mode = self.selinux_mode })
end

--- [os] §4.2 step 22: SELinux relabel when the mode in effect is not disabled.
function Job:selinux_relabel()
  if self.selinux_mode and self.selinux_mode ~= "disabled" then
    self.ctx:step("selinux relabel", function() self.img:selinux_relabel() end)
  end
end

-- §4.1 step 22: output.artifacts (preview output-artifacts): the unsigned
-- boot files and verity root hashes with their inject-files.yaml, after
-- verity and before the output is written.
function Job:_artifacts()
  local a = self.opts.artifacts
  if not a then return end
  self.ctx:step("output artifacts", function()
    local list = {}
    for _, v in ipairs((self.layout or {}).verity or {}) do
      local info = (self.verity_infos or {})[v.name]
      if info then list[#list + 1] = { name = v.name, root_hash = info.root_hash, hash_signature_path = v.hashSignaturePath } end
    end
    for _, v in ipairs(self.verity_existing or {}) do
      local info = (self.verity_infos or {})[v.name]
      if info then list[#list + 1] = { name = v.name, root_hash = info.root_hash, hash_signature_path = v.hash_signature_path } end
    end
    artifacts.export(self.new_disk or self.img, a.path, a.items or {}, { verity = list })
  end)
end

--- Seals verity, writes the output in its format and releases the images.
function Job:finish()
  local ctx, output, format = self.ctx, self.output, self.format
  if self.iso_input and self.pxe_opts then
    local live, opts = self.live, self.pxe_opts
    ctx:step("liveos pxe", function()
      opts.work_dir = ctx.work_dir .. "/pxe"
      opts.input = self.input
      opts.saved_args, opts.image_args = live.saved.extra_args, live.image_args
      if opts.initramfs_type == "full-os" then
        -- No ISO: the media's own files go into the tree (a new one at the same path wins).
        opts.files = media_files(live.files, opts.files)
      else
        opts.iso_files = live.files
      end
      pxe.build(live.root, output, opts)
      live.disk:release()
    end)
  elseif self.iso_input then
    local opts = self.iso_opts
    if self.live then
      local live = self.live
      ctx:step("liveos iso", function()
        opts.work_dir = ctx.work_dir .. "/liveos"
        opts.saved_args, opts.image_args, opts.volume_id = live.saved.extra_args, live.image_args, live.volume_id
        -- initramfsType unset: the input ISO's (as for PXE; a full-os image may have no dracut).
        if opts.initramfs_type == nil then opts.initramfs_type = live.saved.initramfs_type end
        -- The media's files first; a new file at the same path replaces one.
        opts.files = media_files(live.files, opts.files)
        liveos.build(live.root, output, opts)
        live.disk:release()
      end)
    else
      ctx:step("liveos repackage", function()
        liveos.repackage(self.input, output, { work_dir = ctx.work_dir .. "/liveos", extra_args = opts.extra_args,
                                                files = opts.files })
      end)
    end
  elseif self.is_iso then
    self:_artifacts()
    ctx:step("liveos iso", function()
      self.iso_opts.work_dir = ctx.work_dir .. "/liveos"
      liveos.build(self.img, output, self.iso_opts)
      self.img:close()
    end)
  elseif self.is_pxe then
    self:_artifacts()
    ctx:step("liveos pxe", function()
      self.pxe_opts.work_dir = ctx.work_dir .. "/pxe"
      self.pxe_opts.input = self.input
      pxe.build(self.img, output, self.pxe_opts)
      self.img:close()
    end)
  else
    -- §4.1 step 18: the verity hash trees last, then their kernel arguments.
    local devices = self.layout and storage.verity_devices(self.layout) or {}
    if #devices > 0 then
      ctx:step("verity", function() self.verity_infos = verityboot.seal(self.new_disk, devices) end)
    end
    if self.existing_verity and self.opts.reinitialize_verity then
      ctx:step("verity", function() verityboot.reinitialize(self.img, { work_dir = ctx.work_dir .. "/verity-disk" }) end)
    end
    if self.verity_existing then
      ctx:step("verity", function()
        self.verity_infos = verityboot.seal_existing(self.img, self.verity_existing, { work_dir = ctx.work_dir .. "/verity-disk" })
      end)
    end
    -- §4.1 step 19: UKIs for the installed kernels with grub.cfg's command
    -- line (the verity arguments included: after the seal), systemd-boot as
    -- the boot loader; passthrough keeps the base image's UKIs.
    local mode = self.opts.uki_mode
    if mode == "modify" then
      -- Only the addons, with the changed command line; the main UKIs stay as they are.
      ctx:step("uki", function()
        uki.modify(self.img, { work_dir = ctx.work_dir .. "/uki", cmdlines = self.uki_cmdlines,
                               extra_args = self.uki_extra_args, selinux_mode = self.uki_selinux_mode })
      end)
    elseif mode ~= nil and mode ~= "passthrough" then
      ctx:step("uki", function() uki.create(self.img, { work_dir = ctx.work_dir .. "/uki" }) end)
    end
    self:_artifacts()
    ctx:step("write output", function()
      if self.is_cosi then
        -- ALIC's defaults: zstd -9 --long=27 (cosi), -22 (baremetal-image).
        -- Verity data and hash partitions are not shrunk (imgrecipe.cosi:
        -- their trees are made already); the data filesystem's entry
        -- carries the verity object.
        cosi.write(self.new_disk or self.img, output, { level = self.level, format = format })
      else
        self.img:save(output, format, { last = true })
      end
    end)
  end
  log.info("output written to %s (%s)", output, format)
end

---------------------------------------------------------------------------
-- Plan: the config as data. Each entry is a step of calls; a call is
-- { on = "img"|"job", fn = name, args = {...}, n = #args, from = where }.
---------------------------------------------------------------------------

-- "os.users[0] (config.yaml:12)" for a key of config `c`.
local function where(c, key)
  local line = c.lines and c.lines[key]
  local file = c.path and c.path:match("[^/]*$") or "config"
  if line then return string.format("%s (%s:%d)", key, file, line) end
  return key
end

-- The same for a last-wins key: the last config of the chain that sets it.
local function where_last(cfg, key)
  for i = #cfg.chain, 1, -1 do
    local c = cfg.chain[i]
    if c.lines and c.lines[key] then return where(c, key) end
  end
  return key
end

local function call(on, fn, from, ...)
  return { on = on, fn = fn, args = { ... }, n = select("#", ...), from = from }
end

--- Package names of `lists` (files relative to the config's dir) then `names`, as ALIC.
local function package_names(load_list, c, lists, names)
  local out = {}
  for _, l in ipairs(lists or {}) do
    for _, n in ipairs(load_list(resolve(c.dir, l))) do out[#out + 1] = n end
  end
  for _, n in ipairs(names or {}) do out[#out + 1] = n end
  return out
end

local function last_wins_remove_pm(cfg)
  local remove = false
  for _, c in ipairs(cfg.chain) do
    local p = os_of(c).packages
    if p and p.removePackageManager ~= nil then remove = p.removePackageManager end
  end
  return remove
end

-- Whether a config of the chain changes the OS (an os section or scripts):
-- an ISO input must then have its root rebuilt, not only re-packaged.
local function os_changes(cfg)
  for _, c in ipairs(cfg.chain) do
    local d = c.data or {}
    if d.os and next(d.os) ~= nil then return true end
    for _, list in pairs(d.scripts or {}) do
      if type(list) == "table" and #list > 0 then return true end
    end
  end
  return false
end

-- The iso/pxe section options: last-wins fields from the merged view,
-- additionalFiles per config, relative to its directory.
local function media_options(cfg, section)
  local s = cfg.data[section] or {}
  local files = {}
  for _, c in ipairs(cfg.chain) do
    for _, f in ipairs(((c.data or {})[section] or {}).additionalFiles or {}) do
      files[#files + 1] = { source = resolve(c.dir, f.source), content = f.content, path = f.destination,
                            permissions = f.permissions }
    end
  end
  if next(s) == nil and #files == 0 then return nil end
  return { extra_args = (s.kernelCommandLine or {}).extraCommandLine, files = files,
           initramfs_type = s.initramfsType, kdump_boot_files = s.kdumpBootFiles,
           bootstrap_base_url = s.bootstrapBaseUrl, bootstrap_file_url = s.bootstrapFileUrl }
end

---@class imgrecipe.AlicPlan
---@field path string the config file
---@field input string|nil input.image.path (absolute)
---@field output string|nil output.image.path (absolute)
---@field format string|nil output.image.format
---@field job table the imgrecipe.AlicJobOpts besides input, output and format
---@field os_changes boolean
---@field steps table[] { step = name|nil, from = where, calls = {...} }

--- The plan of a config loaded by imgrecipe.host.config.load (with its
--- chain): what `imgrecipe build` runs and `imgrecipe translate` prints.
---@param cfg table
---@param load_list? fun(path: string): string[] reads a package list (default host.config.load_package_list)
---@return imgrecipe.AlicPlan
function M.plan(cfg, load_list)
  load_list = load_list or require("imgrecipe.host.config").load_package_list
  cfg.chain = cfg.chain or { cfg }
  local top = cfg.chain[#cfg.chain]
  local data = cfg.data
  local out_image = (data.output or {}).image or {}
  local os_top = os_of(cfg)
  local st = data.storage
  local plan = {
    path = cfg.path,
    input = resolve(cfg.dir, ((data.input or {}).image or {}).path),
    output = resolve(cfg.dir, out_image.path),
    format = out_image.format,
    os_changes = os_changes(cfg),
    steps = {},
    job = {
      storage = (st and st.disks and #st.disks > 0) and st or nil,
      reset_uuids = (st or {}).resetPartitionsUuidsType == "reset-all" or nil,
      storage_changes = (st and next(st) ~= nil) or nil,
      iso = media_options(cfg, "iso"),
      pxe = media_options(cfg, "pxe"),
      selinux_mode = (os_top.selinux or {}).mode,
      remove_package_manager = last_wins_remove_pm(cfg) or nil,
      cosi_level = ((out_image.cosi or {}).compression or {}).level,
      reinitialize_verity = (st or {}).reinitializeVerity == "all" or nil,
      verity_existing = st and storage.verity_existing(st) or nil,
      hard_reset = ((os_top.bootloader or {}).resetType == "hard-reset") or nil,
      preview_features = data.previewFeatures,
      uki_mode = os_top.uki and (os_top.uki.mode or "") or nil,
      artifacts = (data.output or {}).artifacts and {
        path = resolve(cfg.dir, data.output.artifacts.path), items = data.output.artifacts.items,
      } or nil,
    },
  }
  -- Where the job options come from, for the translation's comment.
  plan.job_from = {}
  for _, k in ipairs({ "storage", "iso", "pxe", "os.selinux.mode", "output.image.cosi", "output.artifacts" }) do
    for _, c in ipairs(cfg.chain) do
      if c.lines and c.lines[k] then plan.job_from[#plan.job_from + 1] = where(c, k) end
    end
  end
  local steps = plan.steps
  local function add(step, from, calls) steps[#steps + 1] = { step = step, from = from, calls = calls } end
  local hard_reset = (os_top.bootloader or {}).resetType == "hard-reset"

  add(nil, "ALIC step 1: the build host's resolv.conf while customizing", { call("job", "override_resolv_conf", nil) })
  -- [packages] step 3: remove → update existing → install → update, per config.
  for _, c in ipairs(cfg.chain) do
    local p = os_of(c).packages
    if p then
      local spec = {
        remove = package_names(load_list, c, p.removeLists, p.remove),
        update_existing = p.updateExistingPackages == true,
        install = package_names(load_list, c, p.installLists, p.install),
        update = package_names(load_list, c, p.updateLists, p.update),
      }
      if #spec.remove > 0 or spec.update_existing or #spec.install > 0 or #spec.update > 0 then
        local from = where(c, "os.packages")
        local lists = {}
        for _, k in ipairs({ "removeLists", "installLists", "updateLists" }) do
          for _, l in ipairs(p[k] or {}) do lists[#lists + 1] = l end
        end
        if #lists > 0 then from = from .. "; names read from " .. table.concat(lists, ", ") end
        add("packages", nil, { call("job", "packages", from, spec) })
      end
    end
  end
  if os_top.hostname then
    add("hostname", nil, { call("img", "set_hostname", where_last(cfg, "os.hostname"), os_top.hostname) })
  end
  -- [os] step 6: groups then users, per config.
  for _, c in ipairs(cfg.chain) do
    local o = os_of(c)
    if o.groups and #o.groups > 0 then
      local calls = {}
      for i, g in ipairs(o.groups) do
        calls[i] = call("img", "add_group", where(c, string.format("os.groups[%d]", i - 1)), { name = g.name, gid = g.gid })
      end
      add("groups", nil, calls)
    end
    if o.users and #o.users > 0 then
      local calls = {}
      for i, u in ipairs(o.users) do
        calls[i] = call("img", "add_user", where(c, string.format("os.users[%d]", i - 1)), {
          name = u.name, uid = u.uid, password = u.password,
          password_expires_days = u.passwordExpiresDays,
          ssh_public_keys = u.sshPublicKeys, ssh_public_key_paths = u.sshPublicKeyPaths,
          primary_group = u.primaryGroup, secondary_groups = u.secondaryGroups,
          startup_command = u.startupCommand, home_directory = u.homeDirectory,
        }, c.dir)
      end
      add("users", nil, calls)
    end
  end
  -- [os] step 7: os.additionalDirs; an unquoted YAML 755 arrives as a number (octal digits).
  local function mode(v) return v ~= nil and tostring(v) or nil end
  for _, c in ipairs(cfg.chain) do
    local list = os_of(c).additionalDirs
    if list and #list > 0 then
      local calls = {}
      for i, d in ipairs(list) do
        local opts = { new_dir_mode = mode(d.newDirPermissions), merged_dir_mode = mode(d.mergedDirPermissions),
                       file_mode = mode(d.childFilePermissions) }
        calls[i] = call("img", "copy_dir", where(c, string.format("os.additionalDirs[%d]", i - 1)),
          resolve(c.dir, d.source), d.destination, opts)
      end
      add("additional dirs", nil, calls)
    end
  end
  -- step 8: os.additionalFiles.
  for _, c in ipairs(cfg.chain) do
    local list = os_of(c).additionalFiles
    if list and #list > 0 then
      local calls = {}
      for i, f in ipairs(list) do
        local opts = f.permissions and { mode = f.permissions } or nil
        local from = where(c, string.format("os.additionalFiles[%d]", i - 1))
        if f.content ~= nil then
          calls[i] = call("img", "write_file", from, f.destination, f.content, opts)
        else
          calls[i] = call("img", "copy_file", from, resolve(c.dir, f.source), f.destination, opts)
        end
      end
      add("additional files", nil, calls)
    end
  end
  -- [os] step 9: services, per config.
  for _, c in ipairs(cfg.chain) do
    local svc = os_of(c).services or {}
    local calls = {}
    for i, unit in ipairs(svc.enable or {}) do
      calls[#calls + 1] = call("img", "enable_service", where(c, string.format("os.services.enable[%d]", i - 1)), unit)
    end
    for i, unit in ipairs(svc.disable or {}) do
      calls[#calls + 1] = call("img", "disable_service", where(c, string.format("os.services.disable[%d]", i - 1)), unit)
    end
    if #calls > 0 then add("services", nil, calls) end
  end
  -- [os] step 10: kernel modules, per config.
  for _, c in ipairs(cfg.chain) do
    local list = os_of(c).modules
    if list and #list > 0 then
      local specs = {}
      for i, m in ipairs(list) do specs[i] = { name = m.name, load_mode = m.loadMode, options = m.options } end
      add("kernel modules", nil, { call("img", "configure_modules", where(c, "os.modules"), specs) })
    end
  end
  -- [os] steps 11-12: release file and history of the top config (`imageHistory: none` skips it).
  add("release file", nil, { call("job", "write_release_file", nil) })
  if os_top.imageHistory ~= "none" then
    add("image history", nil, { call("job", "append_history", "the config, as ALIC records it", top.data, top.dir) })
  end
  -- step 13: boot loader.
  local kcl = os_top.kernelCommandLine
  add(nil, "ALIC step 13: boot loader (" .. where_last(cfg, "os.kernelCommandLine") .. ", os.bootloader)", {
    call("job", "bootloader", nil, { extra_args = kcl and kcl.extraCommandLine or {},
                                     selinux_mode = (os_top.selinux or {}).mode, hard_reset = hard_reset or nil }) })
  -- [os] step 14: SELinux mode.
  local sel = (os_top.selinux or {}).mode
  if sel == "" then sel = nil end
  add(nil, sel and where_last(cfg, "os.selinux.mode") or "os.selinux.mode (unset: the image's mode)",
    { call("job", "selinux", nil, sel, sel and { boot_args = not hard_reset } or nil) })
  -- [os] steps 15, 17: overlays of every config, then the initramfs once.
  local any_overlay = false
  for _, c in ipairs(cfg.chain) do
    local list = os_of(c).overlays
    if list and #list > 0 then
      local specs = {}
      for i, o in ipairs(list) do
        specs[i] = { mount_point = o.mountPoint, lower_dirs = o.lowerDirs or {}, upper_dir = o.upperDir,
                     work_dir = o.workDir, initrd = o.isInitrdOverlay or nil,
                     mount_dependencies = o.mountDependencies, mount_options = o.mountOptions }
      end
      add("overlays", nil, { call("job", "overlays", where(c, "os.overlays"), specs) })
      any_overlay = true
    end
  end
  if any_overlay then
    add("regenerate initramfs", nil, { { on = "module", module = "diskboot", fn = "regenerate_initramfs",
                                         args = {}, n = 0, img_arg = true } })
  end
  local function scripts(kind)
    for _, c in ipairs(cfg.chain) do
      for i, s in ipairs(((c.data or {}).scripts or {})[kind] or {}) do
        local name = s.name or s.path or string.format("%s[%d]", kind, i)
        add(kind .. ": " .. name, nil, { call("img", "run_script", where(c, string.format("scripts.%s[%d]", kind, i - 1)), {
          path = s.path, content = s.content, interpreter = s.interpreter,
          arguments = s.arguments, env = s.environmentVariables, name = name,
          -- finalize scripts see the image's own resolv.conf, restored before them (as ALIC)
          network = kind ~= "finalizeCustomization",
        }, c.dir) })
      end
    end
  end
  scripts("postCustomization")
  if last_wins_remove_pm(cfg) then
    add("remove package manager", nil, { call("job", "remove_package_manager", "os.packages.removePackageManager") })
  end
  add(nil, "ALIC step 21: the image's own resolv.conf back", { call("job", "restore_resolv_conf", nil) })
  add(nil, "ALIC step 22: SELinux relabel unless the mode in effect is disabled", { call("job", "selinux_relabel", nil) })
  scripts("finalizeCustomization")
  add("kernel check", nil, { call("img", "check_kernel", "ALIC step 24: a kernel must remain") })
  return plan
end

local modules = { diskboot = diskboot }

--- Runs one plan entry on the job (what the translated recipe's lines do).
---@param job imgrecipe.AlicJob
---@param entry table
function M.run_entry(job, entry)
  local function run()
    for _, c in ipairs(entry.calls) do
      local args = { unpack(c.args, 1, c.n) }
      if c.on == "module" then
        modules[c.module][c.fn](job.img, unpack(args, 1, c.n))
      else
        local target = c.on == "job" and job or job.img
        target[c.fn](target, unpack(args, 1, c.n))
      end
    end
  end
  if entry.step then job.ctx:step(entry.step, run) else run() end
end

--- Runs a plan: `imgrecipe build`. `overrides` (input, output, format)
--- replace the config's values.
---@param ctx imgrecipe.Context
---@param plan imgrecipe.AlicPlan
---@param overrides? table
function M.run(ctx, plan, overrides)
  overrides = overrides or {}
  local opts = {}
  for k, v in pairs(plan.job) do opts[k] = v end
  opts.input = overrides.input or plan.input
  opts.output = overrides.output or plan.output
  opts.format = overrides.format or plan.format
  local job = M.job(ctx, opts)
  local img
  if plan.os_changes then img = job:open() else img = job:open(false) end
  if img then
    for _, e in ipairs(plan.steps) do M.run_entry(job, e) end
  end
  job:finish()
end

return M
