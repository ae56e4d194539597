-- imgrecipe.uki: the pure parts (kernels of /boot, command lines from
-- grub.cfg, ALIC's fallback and mode rules, ESP paths) and the ukify
-- command lines on a fake root that records what it runs.
local uki = require "imgrecipe.uki"

-- A fake mounted image: files in a table; `runs` collects run() argv.
local function fake(files)
  local runs = {}
  local root = {
    runs = runs,
    read_file = function(_, p) return files[p] end,
    exists = function(_, p)
      if files[p] ~= nil then return true end
      for k in pairs(files) do if k:sub(1, #p + 1) == p .. "/" then return true end end
      return false
    end,
    list_dir = function(_, p)
      local out, seen = {}, {}
      for k in pairs(files) do
        local name = k:match("^" .. p:gsub("%p", "%%%0") .. "/([^/]+)")
        if name and not seen[name] then seen[name] = true; out[#out + 1] = name end
      end
      return #out > 0 and out or nil
    end,
    write_file = function(_, p, c) files[p] = c end,
    remove = function(_, p) files[p] = nil end,
    mkdir = function() end,
    mounts = function() return files.__mounts or { { target = "/boot/efi" } } end,
    run = function(_, argv) runs[#runs + 1] = table.concat(argv, " ") end,
  }
  return root
end

local GRUB = [[
menuentry 'Debian GNU/Linux' --class debian {
	linux	/boot/vmlinuz-6.1.0-28-cloud-amd64 root=UUID=1234 ro $vt_handoff "console=ttyS0,115200n8" quiet
	initrd	/boot/initrd.img-6.1.0-28-cloud-amd64
}
submenu 'Advanced options' {
	menuentry 'Debian, recovery mode' {
		linux	/boot/vmlinuz-6.1.0-28-cloud-amd64 root=UUID=1234 ro single
	}
	menuentry 'Debian, with Linux 6.1.0-27-cloud-amd64' {
		linux	/vmlinuz-6.1.0-27-cloud-amd64 root=UUID=1234 ro roothash=ab\ cd
	}
}
]]

return {
  test_kernels = function(t)
    local ks = uki.kernels({ "vmlinuz-6.1.0-28-cloud-amd64", "initrd.img-6.1.0-28-cloud-amd64", "grub", "efi",
                             "vmlinuz-5.15.1.azl3", "initramfs-5.15.1.azl3.img", "config-6.1.0-28-cloud-amd64" })
    t:eq(#ks, 2)
    t:eq(ks[1].kernel, "vmlinuz-5.15.1.azl3")
    t:eq(ks[1].initrd, "initramfs-5.15.1.azl3.img")
    t:eq(ks[2].version, "6.1.0-28-cloud-amd64")
    t:eq(ks[2].initrd, "initrd.img-6.1.0-28-cloud-amd64")
    t:raises(function() uki.kernels({ "vmlinuz-1.0" }) end, "missing initramfs for kernel (vmlinuz-1.0)")
    t:eq(#uki.kernels({}), 0)
  end,
  test_grub_cmdlines = function(t)
    local c = uki.grub_cmdlines(GRUB)
    t:eq(c["vmlinuz-6.1.0-28-cloud-amd64"], "root=UUID=1234 ro console=ttyS0,115200n8 quiet")
    t:eq(c["vmlinuz-6.1.0-27-cloud-amd64"], "root=UUID=1234 ro roothash=ab cd")
    t:eq(uki.grub_cmdlines("set x=1\n")["vmlinuz"], nil)
  end,
  test_cmdline_fallback = function(t)
    t:eq(uki.cmdline_for({ a = "x y" }, "a"), "x y")
    t:eq(uki.cmdline_for({ a = "x y", b = "x y", c = "" }, "new"), "x y")
    t:raises(function() uki.cmdline_for({ a = "x", b = "y" }, "new") end, "the other kernels' differ: x | y")
    t:raises(function() uki.cmdline_for({}, "new") end, "no command line arguments found for kernel (new)")
  end,
  test_paths = function(t)
    local u, a = uki.paths("vmlinuz-6.1.0-28-cloud-amd64")
    t:eq(u, "/EFI/Linux/vmlinuz-6.1.0-28-cloud-amd64.efi")
    t:eq(a, "/EFI/Linux/vmlinuz-6.1.0-28-cloud-amd64.efi.extra.d/vmlinuz-6.1.0-28-cloud-amd64.addon.efi")
  end,
  test_check_mode = function(t)
    local none = fake({ ["/boot/efi/EFI/BOOT/BOOTX64.EFI"] = "x" })
    uki.check_mode(none, nil)
    uki.check_mode(none, "create")
    uki.check_mode(none, "")
    t:raises(function() uki.check_mode(none, "passthrough") end, "cannot passthrough UKIs when base image has no UKIs")
    t:raises(function() uki.check_mode(none, "modify") end, "cannot modify UKIs when base image has no UKIs")
    local with = fake({ ["/boot/efi/EFI/Linux/vmlinuz-1.efi"] = "x" })
    t:ok(uki.has_ukis(with), "UKIs found")
    t:raises(function() uki.check_mode(with, nil) end, "base image contains UKI files but os.uki is not specified")
    t:raises(function() uki.check_mode(with, "") end, "os.uki.mode is not specified")
    uki.check_mode(with, "passthrough")
    uki.check_mode(with, "create")
  end,
  test_tools_errors = function(t)
    t:raises(function() uki.tools(fake({})) end, "no systemd EFI stub (/usr/lib/systemd/boot/efi/linuxx64.efi.stub)")
    t:raises(function() uki.tools(fake({})) end, "'systemd-boot-efi'")
    t:raises(function() uki.tools(fake({ ["/usr/lib/systemd/boot/efi/linuxx64.efi.stub"] = "s" })) end,
      "no systemd-boot (/usr/lib/systemd/boot/efi/systemd-bootx64.efi)")
    local tl = uki.tools(fake({ ["/usr/lib/systemd/boot/efi/linuxx64.efi.stub"] = "s",
                                ["/usr/lib/systemd/boot/efi/systemd-bootx64.efi"] = "b" }))
    t:eq(tl.fallback, "BOOTX64.EFI")
    t:eq(tl.addon_stub, nil)
    t:eq(tl.ukify, nil)
  end,
  -- With ukify and an addon stub (systemd >= 254): ALIC's layout, the main
  -- UKI without a command line and the addon holding it; old UKIs removed.
  test_create_ukify_addon = function(t)
    local files = {
      ["/usr/lib/systemd/boot/efi/linuxx64.efi.stub"] = "s", ["/usr/lib/systemd/boot/efi/addonx64.efi.stub"] = "a",
      ["/usr/lib/systemd/boot/efi/systemd-bootx64.efi"] = "b", ["/usr/bin/ukify"] = "u",
      ["/boot/vmlinuz-6.6"] = "k", ["/boot/initramfs-6.6.img"] = "i", ["/etc/os-release"] = "ID=azurelinux\n",
      ["/boot/efi/EFI/Linux/old.efi"] = "o",
    }
    local root = fake(files)
    local built = uki.create(root, { work_dir = "/nonexistent", cmdlines = { ["vmlinuz-6.6"] = "root=/dev/mapper/root ro" },
                                     install_loader = false, clean_boot = false })
    t:eq(#built, 1)
    t:eq(built[1].tool, "ukify")
    t:eq(built[1].path, "/boot/efi/EFI/Linux/vmlinuz-6.6.efi")
    t:eq(built[1].addon, "/boot/efi/EFI/Linux/vmlinuz-6.6.efi.extra.d/vmlinuz-6.6.addon.efi")
    t:eq(files["/boot/efi/EFI/Linux/old.efi"], nil)
    t:eq(root.runs[1], "/usr/bin/ukify build --linux=/boot/vmlinuz-6.6 --initrd=/boot/initramfs-6.6.img "
      .. "--os-release=@/etc/os-release --uname=6.6 --stub=/usr/lib/systemd/boot/efi/linuxx64.efi.stub "
      .. "--output=/boot/efi/EFI/Linux/vmlinuz-6.6.efi")
    t:eq(root.runs[2], "/usr/bin/ukify build --cmdline=@/tmp/imgrecipe-uki-cmdline "
      .. "--stub=/usr/lib/systemd/boot/efi/addonx64.efi.stub "
      .. "--output=/boot/efi/EFI/Linux/vmlinuz-6.6.efi.extra.d/vmlinuz-6.6.addon.efi")
    t:eq(files["/tmp/imgrecipe-uki-cmdline"], nil)
    files.__mounts = { { target = "/" } }
    t:raises(function() uki.create(root, { work_dir = "/x", cmdlines = {} }) end, "uki: no ESP mounted at /boot/efi")
    t:raises(function() uki.create(root, { work_dir = "/x", clean = false }) end, "unknown option 'clean'")
    t:raises(function() uki.create(root, {}) end, "work_dir")
  end,
  -- ukify without an addon stub: the command line goes into the main UKI.
  test_create_ukify_no_addon = function(t)
    local root = fake({
      ["/usr/lib/systemd/boot/efi/linuxx64.efi.stub"] = "s", ["/usr/lib/systemd/boot/efi/systemd-bootx64.efi"] = "b",
      ["/usr/lib/systemd/ukify"] = "u", ["/boot/vmlinuz-6.1"] = "k", ["/boot/initrd.img-6.1"] = "i",
      ["/usr/lib/os-release"] = "ID=debian\n",
    })
    local built = uki.create(root, { work_dir = "/nonexistent", cmdlines = { ["vmlinuz-6.1"] = "ro" },
                                     install_loader = false, clean_boot = false })
    t:eq(built[1].addon, nil)
    t:eq(#root.runs, 1)
    t:ok(root.runs[1]:find("--os-release=@/usr/lib/os-release", 1, true), "os-release from /usr/lib")
    t:ok(root.runs[1]:find("--cmdline=@/tmp/imgrecipe-uki-cmdline", 1, true), "cmdline in the main UKI")
  end,
}
