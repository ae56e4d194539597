-- Translated by `imgrecipe translate` from storage.yaml:
--   @DIR@/storage.yaml
-- The same calls, in the same order, as `imgrecipe build` makes for that config
-- (ALIC's order of steps); each comment names the YAML key of the lines below it.
-- Run it with: imgrecipe run THIS.lua --param input=IN --param output=OUT --param format=FMT
local alic = require "imgrecipe.alic"

-- The config as the image history records it (os.imageHistory); file hashes are taken at run time.
local CONFIG = {
  output = { image = { format = "cosi", cosi = { compression = { level = 3 } }, path = "out/storage.cosi" } },
  os = { bootloader = { resetType = "hard-reset" }, selinux = { mode = "disabled" } },
  storage = {
    bootType = "efi",
    disks = {
      {
        maxSize = "2G",
        partitionTableType = "gpt",
        partitions = {
          { id = "esp", size = "64M", start = "1M", type = "esp" },
          { id = "root", size = "grow", type = "root" },
        },
      },
    },
    filesystems = {
      {
        deviceId = "esp",
        mountPoint = { options = "umask=0077", path = "/boot/efi" },
        type = "fat32",
      },
      { deviceId = "root", mountPoint = { path = "/" }, type = "ext4" },
    },
  },
}

return {
  name = "storage",
  description = "Translated from storage.yaml",
  api = 1,
  params = {
    input = { description = "input image", required = true },
    output = {
      default = "@DIR@/out/storage.cosi",
      description = "output path (config: output.image.path)",
    },
    format = {
      default = "cosi",
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
    -- storage (storage.yaml:2), os.selinux.mode (storage.yaml:21), output.image.cosi (storage.yaml:26)
    local job = alic.job(ctx, {
      input = ctx.params.input,
      output = ctx.params.output,
      format = ctx.params.format,
      cosi_level = 3,
      hard_reset = true,
      selinux_mode = "disabled",
      storage = {
        bootType = "efi",
        disks = {
          {
            maxSize = "2G",
            partitionTableType = "gpt",
            partitions = {
              { id = "esp", size = "64M", start = "1M", type = "esp" },
              { id = "root", size = "grow", type = "root" },
            },
          },
        },
        filesystems = {
          {
            deviceId = "esp",
            mountPoint = { options = "umask=0077", path = "/boot/efi" },
            type = "fat32",
          },
          { deviceId = "root", mountPoint = { path = "/" }, type = "ext4" },
        },
      },
      storage_changes = true,
    })
    local img = job:open()
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
    job:bootloader({ extra_args = {}, hard_reset = true, selinux_mode = "disabled" })
    -- os.selinux.mode (storage.yaml:21)
    job:selinux("disabled", { boot_args = false })
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
