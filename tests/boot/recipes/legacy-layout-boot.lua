-- A new GPT layout for legacy BIOS boot from an image's OS: a bios-grub
-- partition at 1 MiB and / on ext4; GRUB for i386-pc installed by the
-- image's own grub-install (the recipe first installs the .debs of the
-- directory `debs`, Debian's grub-pc-bin and grub2-common, into the new
-- root); a check unit on the serial console.
local disk = require "imgrecipe.disk"
local diskboot = require "imgrecipe.diskboot"

local CHECK_UNIT = [[
[Unit]
Description=imgrecipe legacy layout check
After=local-fs.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'exec >/dev/ttyS0 2>&1; echo "IRCHECK mount /=$(findmnt -n -o SOURCE,FSTYPE / | tr -s " ")"; echo "IRCHECK efi=$(test -d /sys/firmware/efi && echo yes || echo no)"; echo "IRCHECK cmdline=$(cat /proc/cmdline)"; echo IRCHECK-DONE'
[Install]
WantedBy=multi-user.target
]]

return {
  name = "legacy-layout-boot",
  params = {
    input = { required = true },
    output = { required = true },
    debs = { required = true },
    format = { default = "qcow2" },
  },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount({ read_only = true })
    local d = disk.create(ctx.work_dir .. "/new.raw", "2G")
    local ok, err = pcall(function()
      d:partition { table = "gpt", partitions = {
        { id = "bios", type = "bios-grub", start = "1M", size = "1M" },
        { id = "root", type = "root", size = "grow", label = "rootfs" },
      } }
      d:format("root", { type = "ext4" })
      local root = d:mount { ["/"] = "root" }
      ctx:step("copy", function() d:copy_os_from(img) end)
      d:write_fstab { entries = { { partition = "root", mount_point = "/", id_type = "uuid" } } }
      root:write_file("/etc/systemd/system/imgrecipe-check.service", CHECK_UNIT)
      root:symlink("/etc/systemd/system/imgrecipe-check.service",
        "/etc/systemd/system/multi-user.target.wants/imgrecipe-check.service")
      ctx:step("grub-pc", function()
        root:run({ "/bin/sh", "-c", "dpkg -i /tmp/imgrecipe-debs/*.deb" },
          { network = false, binds = { { host = ctx.params.debs, image = "/tmp/imgrecipe-debs" } } })
      end)
      ctx:step("boot loader", function()
        diskboot.install(d, { boot_type = "legacy", root_id_type = "uuid",
                              extra_args = { "console=ttyS0,115200n8" } })
      end)
      d:save(ctx.params.output, ctx.params.format)
    end)
    d:release()
    if not ok then error(err, 0) end
  end,
}
