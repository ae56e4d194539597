-- A new GPT layout from an image's OS that boots on its own: ESP (vfat),
-- / (ext4), /var (xfs); fstab by PARTUUID, the boot loader installed for the
-- new layout (imgrecipe.diskboot), a check unit that prints the mounts to
-- the serial console.
local disk = require "imgrecipe.disk"
local diskboot = require "imgrecipe.diskboot"

local CHECK_UNIT = [[
[Unit]
Description=imgrecipe new-layout check
After=local-fs.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'exec >/dev/ttyS0 2>&1; for m in / /var /boot/efi; do echo "IRCHECK mount $m=$(findmnt -n -o SOURCE,FSTYPE $m | tr -s " ")"; done; echo "IRCHECK cmdline=$(cat /proc/cmdline)"; echo IRCHECK-DONE'
[Install]
WantedBy=multi-user.target
]]

return {
  name = "new-layout-boot",
  params = {
    input = { required = true },
    output = { required = true },
    format = { default = "qcow2" },
    root_id_type = { default = "part-uuid" },
  },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount({ read_only = true })
    local d = disk.create(ctx.work_dir .. "/new.raw", "3G")
    local ok, err = pcall(function()
      d:partition { table = "gpt", partitions = {
        { id = "esp", type = "esp", size = "64M", label = "esp" },
        { id = "root", type = "root", size = "2G", label = "rootfs" },
        { id = "var", type = "var", size = "grow", label = "var" },
      } }
      d:format("esp", { type = "vfat", label = "ESP" })
      d:format("root", { type = "ext4" })
      d:format("var", { type = "xfs" })
      local root = d:mount { ["/"] = "root", ["/var"] = "var", ["/boot/efi"] = "esp" }
      ctx:step("copy", function() d:copy_os_from(img) end)
      d:write_fstab { id_type = "part-uuid", entries = {
        { partition = "root", mount_point = "/", options = "errors=remount-ro" },
        { partition = "esp", mount_point = "/boot/efi", id_type = "uuid", options = "umask=0077" },
        { partition = "var", mount_point = "/var" },
      } }
      root:write_file("/etc/systemd/system/imgrecipe-check.service", CHECK_UNIT)
      root:symlink("/etc/systemd/system/imgrecipe-check.service",
        "/etc/systemd/system/multi-user.target.wants/imgrecipe-check.service")
      ctx:step("boot loader", function()
        diskboot.install(d, { boot_type = "efi", root_id_type = ctx.params.root_id_type,
                              extra_args = { "console=ttyS0,115200n8" } })
      end)
      d:save(ctx.params.output, ctx.params.format)
    end)
    d:release()
    if not ok then error(err, 0) end
  end,
}
