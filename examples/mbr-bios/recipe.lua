-- An MBR disk for legacy BIOS machines, a layout the YAML format cannot
-- express (ALIC's storage takes GPT only): /boot on ext4 (active
-- partition), / on xfs, swap. The OS comes from a Debian/Ubuntu image; GRUB
-- for i386-pc is installed into the new root from the package manager and
-- written to the disk's boot sector.
--
--   imgrecipe run examples/mbr-bios/recipe.lua --param input=base.qcow2 \
--       --param output=bios.qcow2 [--param deb_sources=/srv/debs]
--
-- deb_sources: directories of .deb files or .list/.sources files for
-- grub-pc-bin and grub2-common (default: the image's own apt sources).
local disk = require "imgrecipe.disk"
local diskboot = require "imgrecipe.diskboot"

return {
  name = "mbr-bios",
  description = "MBR + legacy BIOS layout: /boot ext4, / xfs, swap",
  api = 1,
  params = {
    input = { required = true, description = "the source image (its OS is copied)" },
    output = { required = true, description = "the new disk" },
    format = { default = "qcow2", description = "raw, qcow2, vhd, vhd-fixed or vhdx" },
    size = { default = "4G", description = "disk size" },
    deb_sources = { list = true, description = "local .deb directories or apt source files for GRUB" },
    console = { default = "ttyS0,115200n8", description = "serial console (kernel console= argument)" },
  },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount({ read_only = true })
    local d = disk.create(ctx.work_dir .. "/bios.raw", ctx.params.size)
    local ok, err = pcall(function()
      ctx:step("partition", function()
        d:partition { table = "mbr", partitions = {
          { id = "boot", size = "512M", bootable = true },
          { id = "swap", type = "swap", size = "256M" },
          { id = "root", size = "grow" },
        } }
        d:format("boot", { type = "ext4", label = "boot" })
        d:format("root", { type = "xfs", label = "root" })
      end)
      local root = d:mount { ["/"] = "root", ["/boot"] = "boot" }
      ctx:step("copy", function() d:copy_os_from(img) end)
      img:close()
      ctx:step("swap", function()
        -- The image's own mkswap, on the new disk's partition as the root sees it.
        root:run({ "mkswap", "--label", "swap", "/dev/imgrecipe-part2" }, { network = false })
      end)
      ctx:step("fstab", function()
        d:write_fstab { id_type = "uuid", entries = {
          { partition = "root", mount_point = "/" },
          { partition = "boot", mount_point = "/boot" },
          { partition = "swap", mount_point = "none", type = "swap", id_type = "part-uuid" },
        } }
      end)
      ctx:step("grub-pc", function()
        local sources = ctx.params.deb_sources
        root:packages { install = { "grub-pc-bin", "grub2-common" }, sources = sources,
                        disable_base_repos = #sources > 0 }
      end)
      ctx:step("boot loader", function()
        diskboot.install(d, { boot_type = "legacy", root_id_type = "part-uuid",
                              extra_args = { "console=" .. ctx.params.console } })
      end)
      ctx:step("write output", function() d:save(ctx.params.output, ctx.params.format) end)
    end)
    d:release()
    if not ok then error(err, 0) end
  end,
}
