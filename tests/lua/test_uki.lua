-- imgrecipe.uki: the pure parts (kernels of /boot, command lines from
-- grub.cfg, ALIC's fallback and mode rules, ESP paths) and the ukify
-- command lines on a fake root that records what it runs.
local uki = require "imgrecipe.uki"
local alic = require "imgrecipe.alic"

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
    stat = function(self, p)
      if files[p] ~= nil then return { type = "file" } end
      if self:exists(p) then return { type = "directory" } end
      return nil
    end,
    mounts = function() return files.__mounts or { { target = "/boot/efi" } } end,
    run = function(_, argv)
      runs[#runs + 1] = table.concat(argv, " ")
      for _, a in ipairs(argv) do
        local out = a:match("^%-%-output=(.+)$")
        if out then files[out] = "built" end
      end
    end,
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
    -- modify needs ALIC's addon layout (at least one addon).
    t:raises(function() uki.check_mode(with, "modify") end,
      "base image has UKI without addons (combined architecture) but os.uki.mode is set to 'modify'")
    uki.check_mode(fake({ ["/boot/efi/EFI/Linux/vmlinuz-1.efi"] = "x",
                          ["/boot/efi/EFI/Linux/vmlinuz-1.efi.extra.d/vmlinuz-1.addon.efi"] = "a" }), "modify")
  end,
  test_split_cmdline = function(t)
    local function j(list) return table.concat(list, "|") end
    t:eq(j(uki.split_cmdline("root=/dev/sda1 ro\0\0")), "root=/dev/sda1|ro")
    t:eq(j(uki.split_cmdline("  a  b\n")), "a|b")
    t:eq(j(uki.split_cmdline('x foo="a b" y')), 'x|foo="a b"|y')
    t:eq(#uki.split_cmdline(""), 0)
  end,
  -- ALIC's order: extraCommandLine appended (step 13), then the SELinux
  -- arguments replaced (step 14).
  test_edit_cmdline = function(t)
    t:eq(uki.edit_cmdline("root=UUID=1 ro", { extra_args = { "quiet", "x=\"a b\"" } }), 'root=UUID=1 ro quiet x="a b"')
    t:eq(uki.edit_cmdline("root=UUID=1 ro quiet", { extra_args = { "quiet" } }), "root=UUID=1 ro quiet")
    t:eq(uki.edit_cmdline("ro security=selinux selinux=1 enforcing=1 quiet", { selinux_mode = "disabled" }), "ro quiet selinux=0")
    t:eq(uki.edit_cmdline("ro selinux=0", { extra_args = { "a" }, selinux_mode = "enforcing" }),
      "ro a security=selinux selinux=1")
    t:eq(uki.edit_cmdline("ro\0"), "ro")
    t:raises(function() uki.edit_cmdline("ro", { extra_args = { "a\nb" } }) end, "invalid kernel argument")
    t:raises(function() uki.edit_cmdline("ro", { selinux_mode = "on" }) end, "unknown SELinux mode 'on'")
    t:raises(function() uki.edit_cmdline("ro", { extra = {} }) end, "uki.edit_cmdline: unknown option 'extra'")
  end,
  test_boot_kernels = function(t)
    t:eq(table.concat(uki.boot_kernel_files({ "vmlinuz-6.6", "efi", "initramfs-6.6.img", "initrd.img-6.1", "config-6.6",
                                              "grub" }), " "), "initramfs-6.6.img initrd.img-6.1 vmlinuz-6.6")
    uki.check_boot_kernels(fake({ ["/boot/efi/EFI/Linux/a.efi"] = "x", ["/boot/vmlinuz-dir/x"] = "d" }), "modify")
    t:raises(function() uki.check_boot_kernels(fake({ ["/boot/vmlinuz-6.6"] = "k" }), "modify") end,
      "kernel binaries detected in /boot (vmlinuz-6.6): os.uki.mode 'modify' keeps")
    t:raises(function() uki.check_boot_kernels(fake({ ["/boot/initramfs-6.6.img"] = "i" }), "passthrough") end,
      "os.uki.mode 'passthrough'")
  end,
  -- modify with ukify: only the addons are rebuilt, from the addon stub,
  -- with the old command line changed; the main UKIs are not touched.
  test_modify_ukify = function(t)
    local esp = "/boot/efi/EFI/Linux/"
    local files = {
      ["/usr/lib/systemd/boot/efi/linuxx64.efi.stub"] = "s", ["/usr/lib/systemd/boot/efi/addonx64.efi.stub"] = "a",
      ["/usr/bin/ukify"] = "u",
      [esp .. "vmlinuz-6.6.efi"] = "main66", [esp .. "vmlinuz-6.6.efi.extra.d/vmlinuz-6.6.addon.efi"] = "addon66",
      [esp .. "vmlinuz-6.7.efi"] = "main67", [esp .. "vmlinuz-6.7.efi.extra.d/vmlinuz-6.7.addon.efi"] = "addon67",
    }
    local root = fake(files)
    local out = uki.modify(root, { work_dir = "/nonexistent", extra_args = { "quiet" }, selinux_mode = "disabled",
                                   cmdlines = { ["vmlinuz-6.6"] = "root=/dev/sda2 ro selinux=1", ["vmlinuz-6.7"] = "ro" } })
    t:eq(#out, 2)
    t:eq(out[1].kernel, "vmlinuz-6.6")
    t:eq(out[1].path, esp .. "vmlinuz-6.6.efi")
    t:eq(out[1].addon, esp .. "vmlinuz-6.6.efi.extra.d/vmlinuz-6.6.addon.efi")
    t:eq(out[1].old_cmdline, "root=/dev/sda2 ro selinux=1")
    t:eq(out[1].cmdline, "root=/dev/sda2 ro quiet selinux=0")
    t:eq(out[2].cmdline, "ro quiet selinux=0")
    t:eq(out[1].tool, "ukify")
    t:eq(root.runs[1], "/usr/bin/ukify build --cmdline=@/tmp/imgrecipe-uki-cmdline "
      .. "--stub=/usr/lib/systemd/boot/efi/addonx64.efi.stub --output=" .. esp .. "vmlinuz-6.6.efi.extra.d/vmlinuz-6.6.addon.efi")
    t:eq(#root.runs, 2)
    t:eq(files[esp .. "vmlinuz-6.6.efi"], "main66")
    t:eq(files[esp .. "vmlinuz-6.7.efi"], "main67")
    t:eq(files["/tmp/imgrecipe-uki-cmdline"], nil)
    -- Without an addon stub, ALIC builds the addon from the main stub.
    files["/usr/lib/systemd/boot/efi/addonx64.efi.stub"] = nil
    uki.modify(root, { work_dir = "/x", cmdlines = { ["vmlinuz-6.6"] = "ro", ["vmlinuz-6.7"] = "ro" } })
    t:ok(root.runs[3]:find("--stub=/usr/lib/systemd/boot/efi/linuxx64.efi.stub", 1, true), "main stub for the addon")
    -- A UKI without its addon is named, before any addon is written.
    files[esp .. "vmlinuz-6.7.efi.extra.d/vmlinuz-6.7.addon.efi"] = nil
    local runs = #root.runs
    t:raises(function() uki.modify(root, { work_dir = "/x", cmdlines = { ["vmlinuz-6.6"] = "ro", ["vmlinuz-6.7"] = "ro" } }) end,
      "uki: the UKI /boot/efi/EFI/Linux/vmlinuz-6.7.efi has no addon: expected "
      .. "/boot/efi/EFI/Linux/vmlinuz-6.7.efi.extra.d/vmlinuz-6.7.addon.efi")
    t:eq(#root.runs, runs)
    -- The /boot guard, and the options.
    files["/boot/vmlinuz-7.0"] = "k"
    t:raises(function() uki.modify(root, { work_dir = "/x" }) end, "kernel binaries detected in /boot (vmlinuz-7.0)")
    t:raises(function() uki.modify(root, { work_dir = "/x", extra = {} }) end, "uki.modify: unknown option 'extra'")
    t:raises(function() uki.modify(root, {}) end, "uki.modify: option 'work_dir' is required")
    t:raises(function() uki.modify(fake({}), { work_dir = "/x" }) end, "uki: no UKIs (/boot/efi/EFI/Linux/*.efi) to modify")
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
  -- The YAML job with os.uki.mode: modify: the /boot guard after the
  -- packages, the extra arguments and the SELinux mode kept for the addons
  -- (no grub.cfg edit), the mode in effect read from the addon's arguments.
  test_alic_job_modify = function(t)
    local files = { ["/etc/os-release"] = "ID=azurelinux\n", ["/etc/selinux/config"] = "SELINUX=permissive\n",
                    ["/boot/efi/EFI/Linux/vmlinuz-6.6.efi"] = "m" }
    local img = fake(files)
    local calls = {}
    img.append_kernel_args = function() calls[#calls + 1] = "append_kernel_args" end
    img.set_selinux_mode = function(_, mode, o) calls[#calls + 1] = mode .. " boot_args=" .. tostring(o and o.boot_args) end
    local steps = {}
    local ctx = { step = function(_, name, fn) steps[#steps + 1] = name; return fn() end }
    local job = alic.job(ctx, { input = "/in.raw", output = "/out.raw", format = "raw", uki_mode = "modify" })
    job.img = img
    job.uki_cmdlines = { ["vmlinuz-6.6"] = "root=/dev/sda2 ro" }
    job:bootloader({ extra_args = { "quiet" } })
    t:eq(table.concat(steps, ","), "uki kernel check")
    t:eq(#calls, 0, "no grub.cfg edit")
    t:eq(table.concat(job.uki_extra_args, " "), "quiet")
    -- No mode in the config: the addon's arguments decide (none: the config file's, RPM rule).
    job:selinux(nil)
    t:eq(job.selinux_mode, "permissive")
    job.uki_cmdlines = { ["vmlinuz-6.6"] = "ro selinux=0" }
    job:selinux(nil)
    t:eq(job.selinux_mode, "disabled")
    job:selinux("enforcing", { boot_args = true })
    t:eq(calls[1], "enforcing boot_args=false")
    t:eq(job.uki_selinux_mode, "enforcing")
    files["/boot/initramfs-6.7.img"] = "i"
    t:raises(function() job:bootloader({}) end, "kernel binaries detected in /boot (initramfs-6.7.img): os.uki.mode 'modify'")
    -- modify cannot make a LiveOS ISO (an image with UKIs).
    local iso = alic.job(ctx, { input = "/in.raw", output = "/out.iso", format = "iso", uki_mode = "modify" })
    iso.is_iso = true
    t:raises(function() iso:_uki_supported() end, "os.uki: the iso output cannot be made from an image with UKIs")
    -- modify does not carry a re-hashed root into the addons: refused.
    local rehash = alic.job(ctx, { input = "/in.raw", output = "/out.raw", format = "raw", uki_mode = "modify",
                                   reinitialize_verity = true })
    t:raises(function() rehash:_uki_supported() end, "modify cannot be combined with storage.reinitializeVerity")
  end,
}
