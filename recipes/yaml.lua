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

---------------------------------------------------------------------------
-- Steps, each translating one part of the config into stdlib calls.
-- Every function takes (ctx, img, cfg) where cfg is the loaded config with
-- its chain; per-config steps loop over cfg.chain themselves.
---------------------------------------------------------------------------

-- [packages] §4.2 step 3: remove → update existing → install → update, per config.
local function packages(ctx, img, cfg)
end

-- [packages] §4.2 step 20: os.packages.removePackageManager (last config wins).
local function remove_package_manager(ctx, img, cfg)
end

-- [os] §4.2 step 1: override /etc/resolv.conf for the whole customization.
local function override_resolv_conf(ctx, img, cfg)
end

-- [os] §4.2 step 21: restore /etc/resolv.conf as it was (ALIC's rules).
local function restore_resolv_conf(ctx, img, cfg)
end

local function hostname(ctx, img, cfg)
  local name = os_of(cfg).hostname
  if name then
    ctx:step("hostname", function() img:set_hostname(name) end)
  end
end

-- [os] §4.2 step 6: groups then users, per config.
local function groups_and_users(ctx, img, cfg)
end

-- [os] §4.2 step 7: os.additionalDirs of every config.
local function additional_dirs(ctx, img, cfg)
end

-- §4.2 step 8: os.additionalFiles of every config.
local function additional_files(ctx, img, cfg)
  for _, c in ipairs(cfg.chain) do
    local files = os_of(c).additionalFiles
    if files and #files > 0 then
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
end

-- [os] §4.2 step 9: services enable/disable, per config.
local function services(ctx, img, cfg)
end

-- [os] §4.2 step 10: kernel modules, per config.
local function modules(ctx, img, cfg)
end

-- [os] §4.2 steps 11-12: /etc/image-customizer-release and image history.
local function release_and_history(ctx, img, cfg)
end

-- §4.2 step 13: bootloader hard-reset [os], else extraCommandLine appended.
local function bootloader(ctx, img, cfg)
  local kcl = os_of(cfg).kernelCommandLine
  local cmdline = kcl and kcl.extraCommandLine
  if cmdline and #cmdline > 0 then
    ctx:step("kernel command line", function() img:append_kernel_args(cmdline) end)
  end
end

-- [os] §4.2 step 14: SELinux mode (kernel arguments and /etc/selinux/config).
local function selinux_mode(ctx, img, cfg)
end

-- [os] §4.2 step 22: SELinux relabel of the writable mounts.
local function selinux_relabel(ctx, img, cfg)
end

-- [os] §4.2 step 24: a kernel must remain installed.
local function kernel_check(ctx, img, cfg)
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
        }, c.dir)
      end)
    end
  end
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

    local img
    ctx:step("open", function()
      img = ctx:open(input)
      img:mount()
    end)
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
    scripts(ctx, img, cfg, "postCustomization")
    remove_package_manager(ctx, img, cfg)
    restore_resolv_conf(ctx, img, cfg)
    selinux_relabel(ctx, img, cfg)
    scripts(ctx, img, cfg, "finalizeCustomization")
    kernel_check(ctx, img, cfg)
    ctx:step("write output", function() img:save(output, format) end)
    log.info("output written to %s (%s)", output, format)
  end,
}
