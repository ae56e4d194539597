-- Builds a new GPT disk from an image's OS: ESP (vfat), / (ext4), /var
-- (xfs), /home (btrfs subvolume @home); the OS copied over, fstab written by
-- PARTUUID and UUID, saved in `format`. Writes a report of the ids and of
-- what the mounted layout showed, for the test to compare offline.
local disk = require "imgrecipe.disk"

return {
  name = "new-layout",
  params = {
    input = { required = true },
    output = { required = true },
    format = { default = "qcow2" },
    report = { required = true },
    root_size = { default = "1536M" },
  },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount({ read_only = true })
    local d = disk.create(ctx.work_dir .. "/new.raw", "3G")
    local lines = {}
    local ok, err = pcall(function()
      local parts
      ctx:step("partition", function()
        parts = d:partition {
          table = "gpt",
          partitions = {
            { id = "esp", type = "esp", size = "64M", label = "esp" },
            { id = "root", type = "root", size = ctx.params.root_size, label = "root" },
            { id = "var", type = "var", size = "768M", label = "var" },
            { id = "home", type = "home", size = "grow", label = "home" },
          },
        }
      end)
      local fs = {}
      ctx:step("format", function()
        fs.esp = d:format("esp", { type = "vfat", label = "ESP" })
        fs.root = d:format("root", { type = "ext4", label = "rootfs" })
        fs.var = d:format("var", { type = "xfs", label = "var" })
        fs.home = d:format("home", { type = "btrfs", label = "home", subvolumes = { { path = "@home" } } })
      end)
      local root
      ctx:step("mount", function()
        root = d:mount {
          ["/home"] = { partition = "home", options = "subvol=@home" },
          ["/var"] = "var",
          ["/"] = 2,
          ["/boot/efi"] = "esp",
        }
      end)
      ctx:step("copy", function() d:copy_os_from(img) end)
      ctx:step("fstab", function()
        d:write_fstab {
          id_type = "uuid",
          entries = {
            { partition = "root", mount_point = "/", id_type = "part-uuid", options = "errors=remount-ro" },
            { partition = "esp", mount_point = "/boot/efi", options = "umask=0077" },
            { partition = "var", mount_point = "/var" },
            { partition = "home", mount_point = "/home", id_type = "part-uuid", subvolume = "@home" },
          },
        }
      end)
      -- Default entries: one per mounted partition, with its mount options.
      lines[#lines + 1] = "fstab-default=" .. d:fstab_text({ id_type = "part-label" }):gsub("\n", ";")
      for _, m in ipairs(d:mounts()) do
        lines[#lines + 1] = string.format("mount %s %s staged=%s", m.target, m.fstype, tostring(m.staged))
      end
      for i, id in ipairs({ "esp", "root", "var", "home" }) do
        lines[#lines + 1] = string.format("%s partuuid=%s uuid=%s type=%s", id, parts[i].uuid, fs[id].uuid, fs[id].type)
      end
      local devs = {}
      for _, p in ipairs(d:partitions()) do
        devs[#devs + 1] = p.number .. "=" .. p.id .. ":" .. p.device:gsub("/dev/loop%d+", "L")
      end
      lines[#lines + 1] = "devices=" .. table.concat(devs, ",")
      lines[#lines + 1] = "dpkg-status-on-var=" .. tostring(root:exists("/var/lib/dpkg/status"))
      lines[#lines + 1] = "esp-boot=" .. table.concat(root:list_dir("/boot/efi/EFI/BOOT") or {}, ",")
      lines[#lines + 1] = "hostname=" .. (root:read_file("/etc/hostname") or ""):gsub("%s+$", "")
      root:write_file("/home/marker", "on btrfs\n")
      local r = root:run({ "/bin/sh", "-c", "stat -c '%U:%G %a' /var/lib/dpkg/status /home/marker" })
      lines[#lines + 1] = "run=" .. table.concat(r.output, ";")
      -- The new disk's devices as the root's commands see them.
      r = root:run({ "/bin/sh", "-c", string.format(
        "readlink -f /dev/disk/by-partuuid/%s /dev/disk/by-uuid/%s /dev/disk/by-partlabel/home; test -b /dev/imgrecipe-disk && echo disk",
        parts[2].uuid, fs.var.uuid) })
      lines[#lines + 1] = "devs=" .. table.concat(r.output, ";")
      d:save(ctx.params.output, ctx.params.format)
    end)
    d:release()
    local f = assert(io.open(ctx.params.report, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    if not ok then error(err, 0) end
  end,
}
