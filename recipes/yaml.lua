--- The built-in recipe behind `imgrecipe build config.yaml`: it reads an
--- ALIC-style config and customizes the image through the same stdlib API a
--- user recipe calls, in ALIC's order of steps.
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
    lines[#lines + 1] = string.format("%s:%d:%d: not supported yet: %s", cfg.path, u.line, u.column, u.key)
  end
  util.raise("unsupported", table.concat(lines, "\n"))
end

local function additional_files(ctx, img, cfg, files)
  ctx:step("additional files", function()
    for _, f in ipairs(files) do
      local opts = f.permissions and { mode = f.permissions } or nil
      if f.content ~= nil then
        img:write_file(f.destination, f.content, opts)
      else
        img:copy_file(resolve(cfg.dir, f.source), f.destination, opts)
      end
      log.info("%s%s", f.destination, f.permissions and (" (mode " .. f.permissions .. ")") or "")
    end
  end)
end

local function scripts(ctx, img, cfg, list, kind)
  for i, s in ipairs(list or {}) do
    local name = s.name or s.path or string.format("%s[%d]", kind, i)
    ctx:step(kind .. ": " .. name, function()
      img:run_script({
        path = s.path, content = s.content, interpreter = s.interpreter,
        arguments = s.arguments, env = s.environmentVariables, name = name,
      }, cfg.dir)
    end)
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
    local os_cfg = data.os or {}
    if os_cfg.hostname then
      ctx:step("hostname", function() img:set_hostname(os_cfg.hostname) end)
    end
    if os_cfg.additionalFiles then additional_files(ctx, img, cfg, os_cfg.additionalFiles) end
    local cmdline = os_cfg.kernelCommandLine and os_cfg.kernelCommandLine.extraCommandLine
    if cmdline and #cmdline > 0 then
      ctx:step("kernel command line", function() img:append_kernel_args(cmdline) end)
    end
    local sc = data.scripts or {}
    scripts(ctx, img, cfg, sc.postCustomization, "postCustomization")
    scripts(ctx, img, cfg, sc.finalizeCustomization, "finalizeCustomization")
    ctx:step("write output", function() img:save(output, format) end)
    log.info("output written to %s (%s)", output, format)
  end,
}
