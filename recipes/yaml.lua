--- The built-in recipe behind `imgrecipe build config.yaml`: it reads an
--- ALIC-style config and customizes the image through the same stdlib API a
--- user recipe calls, in ALIC's order of steps (alic-reference §4.2).
---
--- `cfg.chain` lists the configs of the baseConfigs chain, base configs first
--- and this config last; "per config" steps run once for each of them, in
--- that order. `cfg.data` is the merged view used for last-wins fields.
local config = require "imgrecipe.host.config"
local log = require "imgrecipe.log"

local alic = require "imgrecipe.alic"

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
    alic.check_supported(cfg)
    -- The steps are data (imgrecipe.alic.plan): `imgrecipe translate`
    -- prints the same plan as a Lua recipe.
    alic.run(ctx, alic.plan(cfg), {
      input = ctx.params.image_file, output = ctx.params.output_image_file, format = ctx.params.output_image_format,
    })
  end,
}
