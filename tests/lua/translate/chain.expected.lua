-- Translated by `imgrecipe translate` from chain.yaml:
--   @DIR@/chain.yaml
-- with its base config @DIR@/base/base.yaml
-- The same calls, in the same order, as `imgrecipe build` makes for that config
-- (ALIC's order of steps); each comment names the YAML key of the lines below it.
-- Run it with: imgrecipe run THIS.lua --param input=IN --param output=OUT --param format=FMT
local alic = require "imgrecipe.alic"

return {
  name = "chain",
  description = "Translated from chain.yaml",
  api = 1,
  params = {
    input = { description = "input image", required = true },
    output = {
      default = "@DIR@/out/chain.raw",
      description = "output path (config: output.image.path)",
    },
    format = {
      default = "raw",
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
    local job = alic.job(ctx, {
      input = ctx.params.input,
      output = ctx.params.output,
      format = ctx.params.format,
      preview_features = { "base-configs", "remove-package-manager" },
      remove_package_manager = true,
    })
    local img = job:open()
    -- ALIC step 1: the build host's resolv.conf while customizing
    job:override_resolv_conf()
    ctx:step("packages", function()
      -- os.packages (base.yaml:3); names read from tools.yaml
      job:packages({ install = { "vim", "curl", "less" }, remove = {}, update = {}, update_existing = false })
    end)
    ctx:step("packages", function()
      -- os.packages (chain.yaml:8)
      job:packages({ install = {}, remove = { "nano" }, update = {}, update_existing = false })
    end)
    ctx:step("hostname", function()
      -- os.hostname (chain.yaml:7)
      img:set_hostname("from-child")
    end)
    ctx:step("additional files", function()
      -- os.additionalFiles[0] (base.yaml:7)
      img:write_file("/etc/base.txt", [[
base
]])
    end)
    ctx:step("additional files", function()
      -- os.additionalFiles[0] (chain.yaml:12)
      img:write_file("/etc/child.txt", [[
child
]])
    end)
    ctx:step("release file", function()
      job:write_release_file()
    end)
    -- ALIC step 13: boot loader (os.kernelCommandLine (base.yaml:9), os.bootloader)
    job:bootloader({ extra_args = { "console=ttyS0" } })
    -- os.selinux.mode (unset: the image's mode)
    job:selinux()
    ctx:step("remove package manager", function()
      -- os.packages.removePackageManager
      job:remove_package_manager()
    end)
    -- ALIC step 21: the image's own resolv.conf back
    job:restore_resolv_conf()
    -- ALIC step 22: SELinux relabel unless the mode in effect is disabled
    job:selinux_relabel()
    ctx:step("kernel check", function()
      -- ALIC step 24: a kernel must remain
      img:check_kernel()
    end)
    job:finish()
  end,
}
