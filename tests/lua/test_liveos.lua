-- imgrecipe.liveos, the parts that are pure text: the live kernel arguments,
-- the media's grub.cfg, the early GRUB config, the saved-configs file, the
-- disk arguments dropped from the image's own entry, and argument errors.
local liveos = require "imgrecipe.liveos"
local fullos = require "imgrecipe.fullos"

-- A fake mounted image: only the file methods image_args uses.
local function fake_root(files)
  return {
    exists = function(_, p) return files[p] ~= nil end,
    read_file = function(_, p) return files[p] end,
    list_dir = function(_, d)
      local out = {}
      for p in pairs(files) do
        local name = p:sub(#d + 2)
        if p:sub(1, #d + 1) == d .. "/" and name ~= "" and not name:find("/") then out[#out + 1] = name end
      end
      return out
    end,
  }
end

return {
  test_live_args = function(t)
    local args = table.concat(liveos.live_args("CDROM"), " ")
    t:eq(args, "root=live:CDLABEL=CDROM rd.live.image rd.live.dir=LiveOS rd.live.squashimg=rootfs.img "
      .. "rd.live.overlay.overlayfs rd.live.overlay.nouserconfirmprompt")
  end,

  test_grub_config = function(t)
    local text = liveos.grub_config({ volume_id = "LIVE", kernel = "/boot/vmlinuz-6.1", initrd = "/boot/initrd.img-6.1",
                                      args = { "console=ttyS0,115200n8", "quiet" }, title = 'Debian "12" $x' })
    t:ok(text:find("search --no-floppy --set=root --label LIVE\n", 1, true), "search by label")
    t:ok(text:find("\tlinux\t/boot/vmlinuz-6.1 root=live:CDLABEL=LIVE rd.live.image ", 1, true), "kernel line")
    t:ok(text:find(" rd.live.overlay.nouserconfirmprompt console=ttyS0,115200n8 quiet\n", 1, true), "extra args last")
    t:ok(text:find("\tinitrd\t/boot/initrd.img-6.1\n", 1, true), "initrd line")
    t:ok(text:find('menuentry "Debian 12 x" {', 1, true), "title without quotes or $")
    t:raises(function()
      liveos.grub_config({ volume_id = "L", kernel = "/k", initrd = "/i", args = { "a\nlinux /evil" } })
    end, "invalid kernel argument")
  end,

  test_grub_config_quotes_special_arguments = function(t)
    -- ALIC's cloud-init seed form: GRUB would end the command at ';' unquoted.
    local seed = "ds=nocloud;s=file:///run/initramfs/live/cloud-init-data/"
    local text = liveos.grub_config({ volume_id = "CDROM", kernel = "/k", initrd = "/i", args = { "quiet", seed } })
    t:ok(text:find(" quiet 'ds=nocloud;s=file:///run/initramfs/live/cloud-init-data/'\n", 1, true), text)
    local grub = require "imgrecipe.grub"
    local args = grub.first_kernel_args(text)
    t:eq(args[#args], seed, "read back intact")
    t:raises(function()
      liveos.grub_config({ volume_id = "L", kernel = "/k", initrd = "/i", args = { "a'b" } })
    end, "GRUB passes it to the kernel with a backslash before it")
  end,

  test_full_os_grub_config = function(t)
    local text = liveos.grub_config({ volume_id = "CDROM", kernel = "/boot/vmlinuz-6.1", initrd = "/boot/initrd.img",
                                      args = { "quiet" }, initramfs_type = "full-os" })
    t:ok(text:find("\tlinux\t/boot/vmlinuz-6.1 quiet\n", 1, true), "no root=, no live arguments")
    t:ok(text:find("\tinitrd\t/boot/initrd.img\n", 1, true), "ALIC's full-os initrd path")
  end,

  test_kdump_files_and_boot_exclusions = function(t)
    local root = fake_root({ ["/boot"] = "", ["/boot/vmlinuz-6.1"] = "k", ["/boot/initramfs-6.1kdump.img"] = "d",
                             ["/boot/initrd.img-6.1"] = "i", ["/boot/initramfs-9.9kdump.img"] = "other",
                             ["/boot/grub"] = "" })
    local k = liveos.kdump_files(root)
    t:eq(#k, 1, "only the kdump initramfs of an installed kernel")
    t:eq(k[1].initrd, "/boot/initramfs-6.1kdump.img")
    t:eq(k[1].kernel, "/boot/vmlinuz-6.1")
    t:eq(table.concat(fullos.boot_exclusions(root), " "), "/boot/*", "nothing kept: all of /boot")
    local ex = fullos.boot_exclusions(root, { k[1].initrd, k[1].kernel })
    table.sort(ex)
    t:eq(table.concat(ex, " "), "/boot/grub /boot/initramfs-9.9kdump.img /boot/initrd.img-6.1", "the rest of /boot")
    t:raises(function() fullos.boot_exclusions(root, { "/etc/x" }) end, "directly under /boot")
  end,

  test_file_mode = function(t)
    t:eq(liveos.file_mode(nil, "p"), nil)
    t:eq(liveos.file_mode("0750", "p"), 488)
    t:eq(liveos.file_mode("644", "p"), 420)
    t:raises(function() liveos.file_mode("0999", "files[1].permissions") end, "files[1].permissions '0999'")
    t:raises(function() liveos.file_mode("rwx", "p") end, "expected an octal mode")
  end,

  test_early_config = function(t)
    t:eq(liveos.early_config("CDROM"),
      "search --no-floppy --set=root --label CDROM\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n")
  end,

  test_image_args_drop_disk_arguments = function(t)
    local root = fake_root({
      ["/boot/grub/grub.cfg"] = "menuentry 'x' {\n\tlinux\t/boot/vmlinuz-6 root=UUID=1234 ro console=ttyS0,115200n8 "
        .. "resume=/dev/sda3 rootflags=x quiet $vt_handoff 'ds=nocloud;s=x'\n}\n",
    })
    t:eq(table.concat(liveos.image_args(root), " "), "console=ttyS0,115200n8 quiet ds=nocloud;s=x")
    t:eq(#liveos.image_args(fake_root({})), 0, "no grub.cfg: no arguments")
  end,

  test_saved_configs = function(t)
    local text = liveos.saved_configs({ extra_args = { "a=1", "b" }, initramfs_type = "bootstrap",
                                        kernel_version = "6.1.0" })
    t:ok(text:find('"extraCommandLine": [', 1, true), text)
    t:ok(text:find('"a=1"', 1, true) and text:find('"b"', 1, true), "arguments saved")
    t:ok(text:find('"initramfsType": "bootstrap"', 1, true), "initramfs type saved")
  end,

  test_saved_configs_read_back = function(t)
    local json = require "imgrecipe.json"
    local args = { "a=1", "q=\"x y\"", "uni=\195\169\226\128\168" }
    local doc = json.decode(liveos.saved_configs({ extra_args = args, initramfs_type = "bootstrap",
                                                   kernel_version = "6.1.0" }))
    t:eq(#doc.iso.kernelCommandLine.extraCommandLine, 3, "three arguments")
    for i, a in ipairs(args) do t:eq(doc.iso.kernelCommandLine.extraCommandLine[i], a, "argument " .. i) end
    t:eq(doc.iso.initramfsType, "bootstrap")
    t:eq(doc.os.kernelVersion, "6.1.0")
    t:eq(json.decode('[1, -2.5e1, true, false, null, {}]')[2], -25)
    t:raises(function() json.decode('{"a": [1, 2}') end, "expected ',' or ']'")
    t:raises(function() json.decode('{"a": 1} x') end, "trailing text")
  end,

  test_boot_args_selinux = function(t)
    local image = { "console=ttyS0", "security=selinux", "selinux=1", "enforcing=1", "quiet" }
    t:eq(table.concat(liveos.boot_args(image, true, { "x=1" }), " "), "console=ttyS0 quiet selinux=0 x=1",
      "an image with SELinux on boots live with selinux=0")
    t:eq(table.concat(liveos.boot_args({ "console=ttyS0", "selinux=0" }, false, { "x=1" }), " "),
      "console=ttyS0 selinux=0 x=1", "SELinux off: arguments kept")
  end,

  test_selinux_request = function(t)
    liveos.check_selinux_request(nil)
    liveos.check_selinux_request("")
    liveos.check_selinux_request("disabled")
    t:raises(function() liveos.check_selinux_request("permissive") end,
      "SELinux mode 'permissive' cannot be used on live media")
  end,

  test_build_argument_errors = function(t)
    local root = fake_root({})
    t:raises(function() liveos.build(root, "/tmp/x.iso", {}) end, "opts.work_dir")
    t:raises(function() liveos.build(root, "/tmp/x.iso", { work_dir = "/tmp/w", kdump_boot_files = "yes" }) end,
      "kdump_boot_files: expected keep or none")
    t:raises(function() liveos.build(root, "/tmp/x.iso", { work_dir = "/tmp/w", initramfs_type = "cpio" }) end,
      "expected bootstrap or full-os")
    t:raises(function() liveos.build(root, "/tmp/x.iso", { work_dir = "/tmp/w", volume_id = "NO SPACE" }) end,
      "volume_id 'NO SPACE'")
  end,
}
