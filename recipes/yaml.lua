--- The built-in recipe behind `imgrecipe build config.yaml`: it reads an
--- ALIC-style config and customizes the image through the same stdlib API a
--- user recipe calls, in ALIC's order of steps (alic-reference §4.2).
---
--- `cfg.chain` lists the configs of the baseConfigs chain, base configs first
--- and this config last; "per config" steps run once for each of them, in
--- that order. `cfg.data` is the merged view used for last-wins fields.
local config = require "imgrecipe.host.config"
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

local function resolve(dir, path)
  if path == nil then return nil end
  return sys.absolute(util.join(dir, path))
end

-- Fails on known ALIC keys imgrecipe does not implement yet, never
-- silently ignoring them.
local function check_supported(cfg)
  if #cfg.unsupported == 0 then return end
  local lines = {}
  for _, u in ipairs(cfg.unsupported) do
    lines[#lines + 1] = string.format("%s:%d:%d: not supported yet: %s", u.path or cfg.path, u.line, u.column, u.key)
  end
  util.raise("unsupported", table.concat(lines, "\n"))
end

-- The `os` table of one config of the chain (never nil).
local function os_of(c)
  return (c.data and c.data.os) or {}
end

-- Iterates the configs of the chain whose `os[key]` is a non-empty list:
-- `for c, list in os_lists(cfg, "users") do ... end`.
local function os_lists(cfg, key)
  local i = 0
  return function()
    while true do
      i = i + 1
      local c = cfg.chain[i]
      if not c then return nil end
      local list = os_of(c)[key]
      if list and #list > 0 then return c, list end
    end
  end
end

---------------------------------------------------------------------------
-- Steps, each translating one part of the config into stdlib calls.
-- Every function takes (ctx, img, cfg) where cfg is the loaded config with
-- its chain; per-config steps loop over cfg.chain themselves.
---------------------------------------------------------------------------

-- Package names of `lists` (files relative to the config's dir) then `names`, as ALIC.
local function package_names(c, lists, names)
  local out = {}
  for _, l in ipairs(lists or {}) do
    for _, n in ipairs(config.load_package_list(resolve(c.dir, l))) do out[#out + 1] = n end
  end
  for _, n in ipairs(names or {}) do out[#out + 1] = n end
  return out
end

-- The sources of the image's package manager family; the other family's
-- flags are an error (as ALIC rejects --rpm-source for Ubuntu).
local function package_sources(params, manager)
  local mine, other = "rpm", "deb"
  if manager == "apt-get" then mine, other = "deb", "rpm" end
  if #params[other .. "_sources"] > 0 or params["disable_base_image_" .. other .. "_repos"] then
    util.raise("usage", string.format("--%s-source/--disable-base-image-%s-repos given, but the image uses %s: use --%s-source/--disable-base-image-%s-repos",
      other, other, manager, mine, mine))
  end
  return params[mine .. "_sources"], params["disable_base_image_" .. mine .. "_repos"] == "true"
end

-- [packages] §4.2 step 3: remove → update existing → install → update, per config.
local function packages(ctx, img, cfg)
  for _, c in ipairs(cfg.chain) do
    local p = os_of(c).packages
    if p then
      local spec = {
        remove = package_names(c, p.removeLists, p.remove),
        update_existing = p.updateExistingPackages == true,
        install = package_names(c, p.installLists, p.install),
        update = package_names(c, p.updateLists, p.update),
      }
      if #spec.remove > 0 or spec.update_existing or #spec.install > 0 or #spec.update > 0 then
        ctx:step("packages", function()
          spec.manager = ctx.params.package_manager or img:package_manager()
          spec.sources, spec.disable_base_repos = package_sources(ctx.params, spec.manager)
          img:packages(spec)
        end)
      end
    end
  end
end

-- [packages] §4.2 step 20: os.packages.removePackageManager (last config wins).
local function remove_package_manager(ctx, img, cfg)
  local remove = false
  for _, c in ipairs(cfg.chain) do
    local p = os_of(c).packages
    if p and p.removePackageManager ~= nil then remove = p.removePackageManager end
  end
  if remove then
    ctx:step("remove package manager", function()
      img:remove_package_manager({ manager = ctx.params.package_manager })
    end)
  end
end

-- ALIC refuses removePackageManager (last config wins) with an output that
-- still needs the package manager's database (alic-reference §5.5), for the
-- format in effect: the CLI's or the chain's, wherever it was set.
local function check_remove_package_manager(cfg, format)
  local remove = false
  for _, c in ipairs(cfg.chain) do
    local p = os_of(c).packages
    if p and p.removePackageManager ~= nil then remove = p.removePackageManager end
  end
  local refused = { iso = true, ["pxe-dir"] = true, ["pxe-tar"] = true, cosi = true, ["baremetal-image"] = true }
  if remove and refused[format] then
    util.raise("usage", string.format("os.packages.removePackageManager cannot be used with the '%s' output format", format))
  end
end

-- [os] §4.2 step 1: override /etc/resolv.conf for the whole customization.
-- What was there is kept in cfg for step 21.
local function override_resolv_conf(ctx, img, cfg)
  ctx:step("resolv.conf", function() cfg.saved_resolv_conf = img:override_resolv_conf() end)
end

-- [os] §4.2 step 21: restore /etc/resolv.conf as it was (ALIC's rules).
local function restore_resolv_conf(ctx, img, cfg)
  if cfg.saved_resolv_conf then
    ctx:step("restore resolv.conf", function() img:restore_resolv_conf(cfg.saved_resolv_conf) end)
  end
end

local function hostname(ctx, img, cfg)
  local name = os_of(cfg).hostname
  if name then
    ctx:step("hostname", function() img:set_hostname(name) end)
  end
end

-- [os] §4.2 step 6: groups then users, per config.
local function groups_and_users(ctx, img, cfg)
  for _, c in ipairs(cfg.chain) do
    local o = os_of(c)
    if o.groups and #o.groups > 0 then
      ctx:step("groups", function()
        for _, g in ipairs(o.groups) do img:add_group({ name = g.name, gid = g.gid }) end
      end)
    end
    if o.users and #o.users > 0 then
      ctx:step("users", function()
        for _, u in ipairs(o.users) do
          img:add_user({
            name = u.name, uid = u.uid, password = u.password,
            password_expires_days = u.passwordExpiresDays,
            ssh_public_keys = u.sshPublicKeys, ssh_public_key_paths = u.sshPublicKeyPaths,
            primary_group = u.primaryGroup, secondary_groups = u.secondaryGroups,
            startup_command = u.startupCommand, home_directory = u.homeDirectory,
          }, c.dir)
        end
      end)
    end
  end
end

-- [os] §4.2 step 7: os.additionalDirs of every config.
local function additional_dirs(ctx, img, cfg)
  -- An unquoted YAML 755 arrives as a number; its digits are octal.
  local function mode(v) return v ~= nil and tostring(v) or nil end
  for c, list in os_lists(cfg, "additionalDirs") do
    ctx:step("additional dirs", function()
      for _, d in ipairs(list) do
        img:copy_dir(resolve(c.dir, d.source), d.destination, {
          new_dir_mode = mode(d.newDirPermissions),
          merged_dir_mode = mode(d.mergedDirPermissions),
          file_mode = mode(d.childFilePermissions),
        })
      end
    end)
  end
end

-- §4.2 step 8: os.additionalFiles of every config.
local function additional_files(ctx, img, cfg)
  for c, files in os_lists(cfg, "additionalFiles") do
    ctx:step("additional files", function()
      for _, f in ipairs(files) do
        local opts = f.permissions and { mode = f.permissions } or nil
        if f.content ~= nil then
          img:write_file(f.destination, f.content, opts)
        else
          img:copy_file(resolve(c.dir, f.source), f.destination, opts)
        end
        log.info("%s%s", f.destination, f.permissions and (" (mode " .. f.permissions .. ")") or "")
      end
    end)
  end
end

-- [os] §4.2 step 9: services enable/disable, per config.
local function services(ctx, img, cfg)
  for _, c in ipairs(cfg.chain) do
    local svc = os_of(c).services or {}
    if #(svc.enable or {}) + #(svc.disable or {}) > 0 then
      ctx:step("services", function()
        for _, unit in ipairs(svc.enable or {}) do img:enable_service(unit) end
        for _, unit in ipairs(svc.disable or {}) do img:disable_service(unit) end
      end)
    end
  end
end

-- [os] §4.2 step 10: kernel modules, per config.
local function modules(ctx, img, cfg)
  for _, list in os_lists(cfg, "modules") do
    ctx:step("kernel modules", function()
      local specs = {}
      for i, m in ipairs(list) do specs[i] = { name = m.name, load_mode = m.loadMode, options = m.options } end
      img:configure_modules(specs)
    end)
  end
end

-- [os] §4.2 steps 11-12: /etc/image-customizer-release and image history
-- (the top-level config, as ALIC records it; `imageHistory: none` skips it).
local function release_and_history(ctx, img, cfg)
  local info = history.new_build()
  ctx:step("release file", function() img:write_release_file(info) end)
  if os_of(cfg).imageHistory ~= "none" then
    ctx:step("image history", function()
      local top = cfg.chain[#cfg.chain]
      img:append_history(info, history.config_record(top.data, top.dir))
    end)
  end
end

local function hard_reset(cfg)
  return (os_of(cfg).bootloader or {}).resetType == "hard-reset"
end

-- The storage section when it builds a new layout (storage.disks), else nil.
local function new_layout(cfg)
  local st = cfg.data.storage
  if st and st.disks and #st.disks > 0 then return st end
end

-- storage.resetPartitionsUuidsType: reset-all is set.
local function reset_all(cfg)
  return (cfg.data.storage or {}).resetPartitionsUuidsType == "reset-all"
end

-- §4.1 step 13 (customizePartitions): a new disk built from the config, the
-- OS copied in from the input mounted read-only, fstab from the config
-- (alic-reference §4.3); the OS steps then customize the new layout. Or
-- every id reset (§4.5) before the image is mounted, fstab following.
local function partitions(ctx, img, cfg)
  if reset_all(cfg) then
    ctx:step("reset uuids", function() cfg.id_changes = uuids.reset_all(img) end)
    return img
  end
  local st = new_layout(cfg)
  if not st then return img end
  local d
  ctx:step("storage", function()
    d = storage.build(img, st, { path = ctx.work_dir .. "/storage-disk.raw" })
    img:close()
  end)
  cfg.new_disk = d
  return d:root()
end

-- §4.2 step 13: bootloader hard-reset [os], else extraCommandLine appended.
-- A new layout gets its boot loader installed (resetType is required then).
local function bootloader(ctx, img, cfg)
  local kcl = os_of(cfg).kernelCommandLine
  local cmdline = kcl and kcl.extraCommandLine or {}
  if cfg.new_disk then
    local with_verity = #storage.verity_devices(new_layout(cfg)) > 0
    ctx:step("bootloader", function()
      storage.install_boot(cfg.new_disk, new_layout(cfg),
        { extra_args = cmdline, selinux_mode = (os_of(cfg).selinux or {}).mode, initramfs = not with_verity })
    end)
    if with_verity then
      ctx:step("verity initramfs", function() verityboot.prepare_initramfs(img) end)
    end
  elseif cfg.id_changes then
    ctx:step("bootloader", function()
      uuids.update_boot(img, cfg.id_changes,
        { extra_args = cmdline, selinux_mode = (os_of(cfg).selinux or {}).mode })
    end)
  elseif hard_reset(cfg) then
    ctx:step("bootloader", function()
      img:reset_bootloader({ extra_args = cmdline, selinux_mode = (os_of(cfg).selinux or {}).mode, keep_args = false })
    end)
  elseif #cmdline > 0 then
    ctx:step("kernel command line", function() img:append_kernel_args(cmdline) end)
  end
end

-- [os] §4.2 step 14: SELinux mode (kernel arguments and /etc/selinux/config).
-- The mode in effect (set here, or the image's own) decides step 22.
local function selinux_mode(ctx, img, cfg)
  local mode = (os_of(cfg).selinux or {}).mode
  if mode and mode ~= "" then
    ctx:step("selinux", function()
      img:set_selinux_mode(mode, { boot_args = not hard_reset(cfg) })
    end)
    cfg.selinux_mode = mode
  else
    cfg.selinux_mode = img:selinux_mode()
  end
end

-- [os] §4.2 steps 15 and 17: os.overlays of every config, then the
-- initramfs regenerated (with the overlay driver) once.
local function os_overlays(ctx, img, cfg)
  local any = false
  for _, list in os_lists(cfg, "overlays") do
    ctx:step("overlays", function()
      local specs = {}
      for i, o in ipairs(list) do
        specs[i] = { mount_point = o.mountPoint, lower_dirs = o.lowerDirs or {}, upper_dir = o.upperDir,
                     work_dir = o.workDir, initrd = o.isInitrdOverlay or nil,
                     mount_dependencies = o.mountDependencies, mount_options = o.mountOptions }
      end
      overlays.apply(img, specs, { selinux_mode = cfg.selinux_mode })
    end)
    any = true
  end
  if any then
    ctx:step("regenerate initramfs", function() diskboot.regenerate_initramfs(img) end)
  end
end

-- [os] §4.2 step 22: SELinux relabel of the writable mounts.
local function selinux_relabel(ctx, img, cfg)
  if cfg.selinux_mode and cfg.selinux_mode ~= "disabled" then
    ctx:step("selinux relabel", function() img:selinux_relabel() end)
  end
end

-- §4.1 step 18: the verity hash trees, last (after finalize scripts and
-- the SELinux relabel, before the COSI shrink), then their kernel
-- arguments into grub.cfg on /boot. Nothing hashed is written afterwards.
local function verity_seal(ctx, img, cfg)
  local st = new_layout(cfg)
  local devices = st and storage.verity_devices(st) or {}
  if #devices == 0 then return false end
  ctx:step("verity", function() verityboot.seal(cfg.new_disk, devices) end)
  return true
end

-- [os] §4.2 step 24: a kernel must remain installed.
local function kernel_check(ctx, img, cfg)
  ctx:step("kernel check", function() img:check_kernel() end)
end

local function scripts(ctx, img, cfg, kind)
  for _, c in ipairs(cfg.chain) do
    local list = (c.data.scripts or {})[kind]
    for i, s in ipairs(list or {}) do
      local name = s.name or s.path or string.format("%s[%d]", kind, i)
      ctx:step(kind .. ": " .. name, function()
        img:run_script({
          path = s.path, content = s.content, interpreter = s.interpreter,
          arguments = s.arguments, env = s.environmentVariables, name = name,
          -- finalize scripts see the image's own resolv.conf, restored before them (as ALIC)
          network = kind ~= "finalizeCustomization",
        }, c.dir)
      end)
    end
  end
end

-- The `iso` section for the LiveOS build (merged view for the last-wins and
-- merged fields; additionalFiles per config, relative to its directory).
local function iso_options(cfg)
  local iso = cfg.data.iso or {}
  if iso.initramfsType == "full-os" then
    util.raise("unsupported", "iso.initramfsType: full-os is not supported yet (use bootstrap, the default)")
  end
  if iso.kdumpBootFiles == "keep" then
    util.raise("unsupported", "iso.kdumpBootFiles: keep is not supported yet")
  end
  liveos.check_selinux_request((os_of(cfg).selinux or {}).mode)
  local files = {}
  for _, c in ipairs(cfg.chain) do
    for _, f in ipairs(((c.data or {}).iso or {}).additionalFiles or {}) do
      if f.permissions then
        log.warn("iso.additionalFiles %s: permissions are not applied on the ISO yet (files are 0644)", f.destination)
      end
      files[#files + 1] = { source = resolve(c.dir, f.source), content = f.content, path = f.destination }
    end
  end
  return {
    extra_args = (iso.kernelCommandLine or {}).extraCommandLine or {},
    files = files,
    initramfs_type = iso.initramfsType,
    selinux_mode = (os_of(cfg).selinux or {}).mode,
  }
end

-- The OS steps of §4.2 on a mounted image, in ALIC's order.
local function customize_os(ctx, img, cfg)
  override_resolv_conf(ctx, img, cfg)
  packages(ctx, img, cfg)
  hostname(ctx, img, cfg)
  groups_and_users(ctx, img, cfg)
  additional_dirs(ctx, img, cfg)
  additional_files(ctx, img, cfg)
  services(ctx, img, cfg)
  modules(ctx, img, cfg)
  release_and_history(ctx, img, cfg)
  bootloader(ctx, img, cfg)
  selinux_mode(ctx, img, cfg)
  os_overlays(ctx, img, cfg)
  scripts(ctx, img, cfg, "postCustomization")
  remove_package_manager(ctx, img, cfg)
  restore_resolv_conf(ctx, img, cfg)
  selinux_relabel(ctx, img, cfg)
  scripts(ctx, img, cfg, "finalizeCustomization")
  kernel_check(ctx, img, cfg)
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

-- ISO input (alic-reference §4.11 "ISO input", §5.5): a LiveOS ISO made by
-- imgrecipe, re-customized into an ISO. With only iso.kernelCommandLine and
-- iso.additionalFiles, the media is re-packaged: its root is not rebuilt.
local function iso_input(ctx, cfg, input, output, format)
  -- ALIC's rules and messages (validateIsoPxeCustomization).
  if format ~= "iso" and format ~= "pxe-dir" and format ~= "pxe-tar" then
    util.raise("usage", string.format("cannot generate output format from input format (output='%s', input='iso'): "
      .. "an ISO input can only produce iso, pxe-dir or pxe-tar", format))
  end
  if cfg.data.storage and next(cfg.data.storage) ~= nil then
    util.raise("usage", "cannot customize partitions when input is ISO (remove the storage section)")
  end
  if format ~= "iso" then
    util.raise("unsupported", string.format("ISO input: the %s output is not supported yet (use iso)", format))
  end
  local opts = iso_options(cfg)
  check_remove_package_manager(cfg, format)
  image.check_output(output, "raw", { input = input })
  if os_changes(cfg) then
    -- The root rebuilt from the squashfs on a working disk, customized, and
    -- the LiveOS build run again with the media's arguments kept.
    local live
    ctx:step("open iso", function() live = liveos.open_iso_root(input, ctx.work_dir .. "/iso-root") end)
    customize_os(ctx, live.root, cfg)
    ctx:step("liveos iso", function()
      opts.work_dir = ctx.work_dir .. "/liveos"
      opts.saved_args, opts.image_args, opts.volume_id = live.saved.extra_args, live.image_args, live.volume_id
      -- The media's files first; a new file at the same path replaces one.
      local files, new = {}, {}
      for _, f in ipairs(opts.files) do new[f.path] = true end
      for _, f in ipairs(live.files) do
        if not new[f.path] then files[#files + 1] = f end
      end
      for _, f in ipairs(opts.files) do files[#files + 1] = f end
      opts.files = files
      liveos.build(live.root, output, opts)
      live.disk:release()
    end)
    log.info("output written to %s (%s)", output, format)
    return
  end
  ctx:step("liveos repackage", function()
    liveos.repackage(input, output, { work_dir = ctx.work_dir .. "/liveos", extra_args = opts.extra_args,
                                      files = opts.files })
  end)
  log.info("output written to %s (%s)", output, format)
end

-- The `pxe` section for the PXE build (same merging as iso_options; ALIC's
-- PXE default initramfsType is full-os, not implemented: bootstrap is used).
local function pxe_options(cfg, format)
  local p = cfg.data.pxe or {}
  if p.initramfsType == "full-os" then
    util.raise("unsupported", "pxe.initramfsType: full-os is not supported yet (use bootstrap, the default here)")
  end
  if p.kdumpBootFiles == "keep" then
    util.raise("unsupported", "pxe.kdumpBootFiles: keep is not supported yet")
  end
  liveos.check_selinux_request((os_of(cfg).selinux or {}).mode)
  local files = {}
  for _, c in ipairs(cfg.chain) do
    for _, f in ipairs(((c.data or {}).pxe or {}).additionalFiles or {}) do
      if f.permissions then
        log.warn("pxe.additionalFiles %s: permissions are not applied yet (files are 0644)", f.destination)
      end
      files[#files + 1] = { source = resolve(c.dir, f.source), content = f.content, path = f.destination }
    end
  end
  -- Checked now, not after the customization.
  pxe.bootstrap_url(p.bootstrapBaseUrl, p.bootstrapFileUrl)
  return {
    format = format,
    extra_args = (p.kernelCommandLine or {}).extraCommandLine or {},
    files = files,
    initramfs_type = p.initramfsType or "bootstrap",
    bootstrap_base_url = p.bootstrapBaseUrl,
    bootstrap_file_url = p.bootstrapFileUrl,
    selinux_mode = (os_of(cfg).selinux or {}).mode,
  }
end

return {
  name = "yaml",
  description = "Customizes an image as an ALIC-style YAML config describes",
  api = 1,
  params = {
    config = { required = true, description = "path of the YAML config" },
    image_file = { description = "input image; overrides input.image.path" },
    output_image_file = { description = "output image; overrides output.image.path" },
    output_image_format = { description = "output format; overrides output.image.format" },
    rpm_sources = { list = true, description = "tdnf/dnf sources: RPM directories or .repo files" },
    deb_sources = { list = true, description = "apt-get sources: .deb directories or .list/.sources files" },
    disable_base_image_rpm_repos = { description = "\"true\": do not use the image's /etc/yum.repos.d" },
    disable_base_image_deb_repos = { description = "\"true\": do not use the image's apt sources" },
    package_manager = { description = "tdnf, dnf or apt-get (default: detected)" },
    cosi_compression_level = { description = "zstd level 1..22 of cosi and baremetal-image outputs; overrides output.image.cosi.compression.level" },
  },
  run = function(ctx)
    local cfg = config.load(ctx.params.config)
    for _, w in ipairs(cfg.warnings or {}) do log.warn("%s", w) end
    cfg.chain = cfg.chain or { cfg }
    check_supported(cfg)
    local data = cfg.data
    local input = ctx.params.image_file
        or resolve(cfg.dir, data.input and data.input.image and data.input.image.path)
    if not input then
      util.raise("usage", "no input image: set input.image.path in the config or pass --image-file")
    end
    local out_image = data.output and data.output.image or {}
    local output = ctx.params.output_image_file or resolve(cfg.dir, out_image.path)
    local format = ctx.params.output_image_format or out_image.format
    if not output then
      util.raise("usage", "no output path: set output.image.path in the config or pass --output-image-file")
    end
    if not format then
      util.raise("usage", "no output format: set output.image.format in the config or pass --output-image-format")
    end
    if sys.kind(input) == "file" and iso.is_iso(input) then
      return iso_input(ctx, cfg, input, output, format)
    end
    -- A COSI file (or a baremetal-image: COSI plus a VHD footer) is written
    -- from the raw working copy (imgrecipe.cosi), a LiveOS ISO from the
    -- mounted working copy (imgrecipe.liveos).
    local is_cosi = format == "cosi" or format == "baremetal-image"
    local is_iso = format == "iso"
    local iso_opts = is_iso and iso_options(cfg) or nil
    local is_pxe = format == "pxe-dir" or format == "pxe-tar"
    local pxe_opts = is_pxe and pxe_options(cfg, format) or nil
    -- Before any conversion: a bad output fails now, not after the whole build.
    if is_pxe then
      pxe.check_output(output, format, input)
    else
      image.check_output(output, is_iso and "raw" or format, { input = input })
    end
    -- The level in effect: the CLI, else the config (last wins), else the format's default.
    local level = cosi.parse_level(ctx.params.cosi_compression_level, "--cosi-compression-level")
        or ((out_image.cosi or {}).compression or {}).level
    check_remove_package_manager(cfg, format)

    local img
    ctx:step("open", function()
      -- A new layout only reads the input (ALIC mounts it read-only), so its
      -- working copy is never the output. Ids are reset before mounting, on a
      -- working copy in the build directory (the only place the reset writes).
      local in_place = not new_layout(cfg) and not reset_all(cfg) and not is_cosi and not is_iso and not is_pxe
      img = ctx:open(input, in_place and { output = output, output_format = format } or nil)
      if not reset_all(cfg) then img:mount(new_layout(cfg) and { read_only = true } or nil) end
    end)
    img = partitions(ctx, img, cfg)
    customize_os(ctx, img, cfg)
    local sealed = not is_iso and not is_pxe and verity_seal(ctx, img, cfg)
    if is_iso then
      ctx:step("liveos iso", function()
        iso_opts.work_dir = ctx.work_dir .. "/liveos"
        liveos.build(img, output, iso_opts)
        img:close()
      end)
      log.info("output written to %s (%s)", output, format)
      return
    end
    if is_pxe then
      ctx:step("liveos pxe", function()
        pxe_opts.work_dir = ctx.work_dir .. "/pxe"
        pxe_opts.input = input
        pxe.build(img, output, pxe_opts)
        img:close()
      end)
      log.info("output written to %s (%s)", output, format)
      return
    end
    ctx:step("write output", function()
      if is_cosi then
        -- ALIC's defaults: zstd -9 --long=27 (cosi), -22 (baremetal-image).
        -- ALIC does not shrink verity filesystems; the verity object of COSI
        -- metadata is not written yet, so a verity layout is not shrunk at all.
        cosi.write(cfg.new_disk or img, output, { level = level, format = format, shrink = not sealed })
      else
        img:save(output, format, { last = true })
      end
    end)
    log.info("output written to %s (%s)", output, format)
  end,
}
