-- Translated by `imgrecipe translate` from iso.yaml:
--   @DIR@/iso.yaml
-- The same calls, in the same order, as `imgrecipe build` makes for that config
-- (ALIC's order of steps); each comment names the YAML key of the lines below it.
-- Run it with: imgrecipe run THIS.lua --param input=IN --param output=OUT --param format=FMT
local alic = require "imgrecipe.alic"

-- The config as the image history records it (os.imageHistory); file hashes are taken at run time.
local CONFIG = {
  input = { image = { path = "/srv/images/live.iso" } },
  output = { image = { format = "iso", path = "out/live.iso" } },
  iso = {
    additionalFiles = { { destination = "/hello.txt", source = "files/hello.txt" } },
    kernelCommandLine = { extraCommandLine = { "rd.info" } },
  },
}

return {
  name = "iso",
  description = "Translated from iso.yaml",
  api = 1,
  params = {
    input = { default = "/srv/images/live.iso", description = "input image (config: input.image.path)" },
    output = {
      default = "@DIR@/out/live.iso",
      description = "output path (config: output.image.path)",
    },
    format = {
      default = "iso",
      description = "output format: raw, qcow2, vhd, vhd-fixed, vhdx, cosi, baremetal-image, iso, pxe-dir, pxe-tar (config: output.image.format)",
    },
    cosi_compression_level = { description = "zstd level 1..22 of cosi and baremetal-image outputs" },
    deb_sources = { description = "apt-get sources: .deb directories or .list/.sources files", list = true },
    disable_base_image_deb_repos = { description = "\"true\": do not use the image's apt sources" },
    disable_base_image_rpm_repos = { description = "\"true\": do not use the image's /etc/yum.repos.d" },
    package_manager = { description = "tdnf, dnf or apt-get (default: detected)" },
    rpm_sources = { description = "tdnf/dnf sources: RPM directories or .repo files", list = true },
  },
  run = function(ctx)
    -- iso (iso.yaml:5)
    local job = alic.job(ctx, {
      input = ctx.params.input,
      output = ctx.params.output,
      format = ctx.params.format,
      iso = {
        extra_args = { "rd.info" },
        files = { { path = "/hello.txt", source = "@DIR@/files/hello.txt" } },
      },
    })
    -- No OS change: an ISO input is only re-packaged (job:open returns nil).
    local img = job:open(false)
    if img then
      -- ALIC step 1: the build host's resolv.conf while customizing
      job:override_resolv_conf()
      ctx:step("release file", function()
        job:write_release_file()
      end)
      ctx:step("image history", function()
        -- the config, as ALIC records it
        job:append_history(CONFIG, "@DIR@")
      end)
      -- ALIC step 13: boot loader (os.kernelCommandLine, os.bootloader)
      job:bootloader({ extra_args = {} })
      -- os.selinux.mode (unset: the image's mode)
      job:selinux()
      -- ALIC step 21: the image's own resolv.conf back
      job:restore_resolv_conf()
      -- ALIC step 22: SELinux relabel unless the mode in effect is disabled
      job:selinux_relabel()
      ctx:step("kernel check", function()
        -- ALIC step 24: a kernel must remain
        img:check_kernel()
      end)
    end
    job:finish()
  end,
}
