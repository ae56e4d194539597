--- The built-in recipe behind `imgrecipe convert`: ALIC's convert
--- subcommand (alic-reference §1.4) on the public stdlib only, so a Lua
--- recipe can do the same. Disk formats are converted in one qemu-img pass
--- (imgrecipe.image.convert); cosi and baremetal-image read the OS from the
--- image and shrink only the ext filesystems that exactly fill their
--- partition, since the image was made elsewhere (imgrecipe.cosi.write).
local image = require "imgrecipe.image"
local cosi = require "imgrecipe.cosi"
local log = require "imgrecipe.log"

return {
  name = "convert",
  description = "Converts a disk image to another format (ALIC's convert)",
  api = 1,
  params = {
    image_file = { required = true, description = "input image: vhd, vhd-fixed, vhdx, qcow2 or raw" },
    output_image_file = { required = true, description = "output file" },
    output_image_format = { required = true,
      description = "raw, qcow2, vhd, vhd-fixed, vhdx, cosi or baremetal-image" },
    cosi_compression_level = { description = "zstd level 1..22 (cosi: 9, baremetal-image: 22)" },
  },
  run = function(ctx)
    local p = ctx.params
    local input, output, format = p.image_file, p.output_image_file, p.output_image_format
    -- Before any work: a bad output or level fails now.
    image.check_output(output, format, { input = input })
    local level = cosi.parse_level(p.cosi_compression_level, "--cosi-compression-level")
    local is_cosi = format == "cosi" or format == "baremetal-image"
    if level and not is_cosi then
      log.warn("--cosi-compression-level applies to cosi and baremetal-image outputs only; ignored for %s", format)
    end
    if is_cosi then
      local img
      ctx:step("open", function() img = ctx:open(input) end)
      ctx:step("write output", function()
        cosi.write(img, output, { format = format, level = level, shrink = "filling" })
      end)
    else
      ctx:step("convert", function() image.convert(input, output, format, { scratch_dir = ctx.work_dir }) end)
    end
    log.info("output written to %s (%s)", output, format)
  end,
}
