-- A UEFI GPT disk with / on ext4, /var on xfs and /home on a btrfs
-- subvolume with a quota, built from any image's OS, with the ESP's GRUB
-- pointed at the new root (imgrecipe.disk + imgrecipe.diskboot).
--
--   imgrecipe run examples/gpt-xfs-btrfs/recipe.lua --param input=base.qcow2 \
--       --param output=layered.qcow2
local disk = require "imgrecipe.disk"
local diskboot = require "imgrecipe.diskboot"

return {
  name = "gpt-xfs-btrfs",
  description = "GPT + UEFI layout: / ext4, /var xfs, /home btrfs subvolume",
  api = 1,
  params = {
    input = { required = true, description = "the source image (its OS is copied)" },
    output = { required = true, description = "the new disk" },
    format = { default = "qcow2", description = "raw, qcow2, vhd, vhd-fixed or vhdx" },
    size = { default = "4G", description = "disk size" },
    home_quota = { default = "512M", description = "referenced limit of the @home subvolume" },
    console = { default = "ttyS0,115200n8", description = "serial console (kernel console= argument)" },
  },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount({ read_only = true })
    local d = disk.create(ctx.work_dir .. "/layered.raw", ctx.params.size)
    local ok, err = pcall(function()
      ctx:step("partition", function()
        d:partition { table = "gpt", partitions = {
          { id = "esp", type = "esp", size = "64M", label = "esp" },
          { id = "root", type = "root", size = "2G", label = "root" },
          { id = "var", type = "var", size = "768M", label = "var" },
          { id = "home", type = "home", size = "grow", label = "home" },
        } }
        d:format("esp", { type = "vfat", label = "ESP" })
        d:format("root", { type = "ext4", label = "root" })
        d:format("var", { type = "xfs", label = "var" })
        d:format("home", { type = "btrfs", label = "home",
                           subvolumes = { { path = "@home", referenced_limit = ctx.params.home_quota } } })
      end)
      d:mount {
        ["/"] = "root", ["/boot/efi"] = "esp", ["/var"] = "var",
        ["/home"] = { partition = "home", options = "subvol=@home" },
      }
      ctx:step("copy", function() d:copy_os_from(img) end)
      img:close()
      ctx:step("fstab", function()
        d:write_fstab { id_type = "part-uuid", entries = {
          { partition = "root", mount_point = "/", options = "errors=remount-ro" },
          { partition = "esp", mount_point = "/boot/efi", id_type = "uuid", options = "umask=0077" },
          { partition = "var", mount_point = "/var" },
          { partition = "home", mount_point = "/home", subvolume = "@home", options = "compress=zstd" },
        } }
      end)
      ctx:step("boot loader", function()
        diskboot.install(d, { boot_type = "efi", extra_args = { "console=" .. ctx.params.console } })
      end)
      ctx:step("write output", function() d:save(ctx.params.output, ctx.params.format) end)
    end)
    d:release()
    if not ok then error(err, 0) end
  end,
}
