--- The built-in recipe behind `imgrecipe inject-files`: ALIC's inject-files
--- subcommand (alic-reference §1.5) on the public stdlib only. The
--- inject-files.yaml (normally written by output.artifacts) is loaded
--- strictly, the input is opened as a working copy (never written), each
--- signed file is copied into the partition its entry names, and the result
--- is written atomically in the output format (the input's by default; cosi
--- and baremetal-image as `convert` writes them). ALIC re-hashes nothing:
--- the files it exports live on the ESP and /boot, which no verity tree covers.
local image = require "imgrecipe.image"
local disk = require "imgrecipe.disk"
local cosi = require "imgrecipe.cosi"
local artifacts = require "imgrecipe.artifacts"
local log = require "imgrecipe.log"

return {
  name = "inject-files",
  description = "Puts externally signed files back into an image (ALIC's inject-files)",
  api = 1,
  params = {
    config = { required = true, description = "the inject-files.yaml" },
    image_file = { required = true, description = "input image: vhd, vhd-fixed, vhdx, qcow2 or raw" },
    output_image_file = { required = true, description = "output file" },
    output_image_format = { description = "raw, qcow2, vhd, vhd-fixed, vhdx, cosi or baremetal-image (default: the input's)" },
    cosi_compression_level = { description = "zstd level 1..22 (cosi: 9, baremetal-image: 22)" },
  },
  run = function(ctx)
    local p = ctx.params
    local input, output = p.image_file, p.output_image_file
    local cfg
    ctx:step("inject-files config", function() cfg = artifacts.load(p.config) end)
    local level = cosi.parse_level(p.cosi_compression_level, "--cosi-compression-level")
    local format = p.output_image_format
    if format then image.check_output(output, format, { input = input }) end
    local img
    ctx:step("open", function()
      -- Without a format the input's is kept, known once the input is opened.
      local raw_out = format == "raw" and { output = output, output_format = format } or nil
      img = ctx:open(input, raw_out)
      format = format or img.input_format
      image.check_output(output, format, { input = input })
    end)
    local is_cosi = format == "cosi" or format == "baremetal-image"
    if level and not is_cosi then
      log.warn("--cosi-compression-level applies to cosi and baremetal-image outputs only; ignored for %s", format)
    end
    ctx:step("inject files", function()
      local d = disk.open(img.raw, { work_dir = ctx.work_dir .. "/inject" })
      local ok, err = pcall(artifacts.inject, d, cfg)
      d:release()
      if not ok then error(err, 0) end
    end)
    ctx:step("write output", function()
      if is_cosi then
        cosi.write(img, output, { format = format, level = level, shrink = "filling" })
      else
        img:save(output, format, { last = true })
      end
    end)
    log.info("output written to %s (%s)", output, format)
  end,
}
