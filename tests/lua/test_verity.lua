-- imgrecipe.verity without a disk: ALIC's sizing, argument checks.
local verity = require "imgrecipe.verity"
local host = require "imgrecipe.host.verity"

return {
  test_inline_sizing = function(t)
    t:eq(verity.inline_data_size("64M"), 66060288)
    t:eq(verity.inline_data_size(1024 * 1024 * 1024), 1064304640)
    t:eq(verity.inline_data_size("10G"), 10652483584)
    t:raises(function() verity.inline_data_size("1M") end, "too small for inline verity")
    t:raises(function() verity.inline_data_size("big") end, "invalid size 'big'")
  end,
  test_hash_size = function(t)
    t:eq(verity.hash_size("256M"), 518 * 4096)
    t:eq(verity.hash_size(66060288), 128 * 4096)
  end,
  test_kernel_args_host = function(t)
    local args = host.kernel_args({ { name = "usr", root_hash = "ab", data = "PARTLABEL=usr", hash = "PARTLABEL=usr",
                                      hash_offset = 4096 } })
    t:eq(table.concat(args, " "), "rd.systemd.verity=1 usrhash=ab systemd.verity_usr_data=PARTLABEL=usr "
      .. "systemd.verity_usr_hash=PARTLABEL=usr systemd.verity_usr_options=,hash-offset=4096")
    t:raises(function() host.kernel_args({ { name = "root", data = "x", hash = "y" } }) end,
      "kernel_args.devices[1]: root_hash, data and hash are required")
    t:raises(function()
      host.kernel_args({ { name = "root", root_hash = "a", data = "x", hash = "y", hash_signature_path = "/boot/s" } })
    end, "needs the /boot filesystem UUID")
  end,
  test_disk_required = function(t)
    t:raises(function() verity.format(nil, "root") end, "argument 'disk': expected table")
    t:raises(function() host.format({}, 1, 2) end, "disk: expected an attached disk")
  end,
  -- verityboot.set_grub_device on an in-memory root: the three variables
  -- replace any earlier value, other lines are kept.
  test_set_grub_device = function(t)
    local verityboot = require "imgrecipe.verityboot"
    local files = { ["/etc/default/grub"] = 'GRUB_DEFAULT=0\nGRUB_DEVICE=/dev/sda2\nGRUB_CMDLINE_LINUX="ro"\n' }
    local root = {
      read_file = function(_, p) return files[p] end,
      write_file = function(_, p, text) files[p] = text end,
    }
    t:eq(verityboot.set_grub_device(root), true)
    local text = files["/etc/default/grub"]
    t:eq(select(2, text:gsub("GRUB_DEVICE=", "")), 1)
    t:ok(text:find("GRUB_DEVICE=/dev/mapper/root\n", 1, true))
    t:ok(text:find("GRUB_DISABLE_LINUX_UUID=true\n", 1, true))
    t:ok(text:find("GRUB_DISABLE_UUID=true\n", 1, true))
    t:ok(text:find('GRUB_CMDLINE_LINUX="ro"\n', 1, true))
    files = {}
    t:eq(verityboot.set_grub_device(root), false)
  end,
}
