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
  -- verityboot.prepare_initramfs on an in-memory Debian 12 root (systemd
  -- 252: no hash-offset= in systemd-veritysetup): inline verity installs the
  -- inline-verity dracut module and adds it, needing veritysetup; the
  -- module's generator, run on ALIC's inline arguments, writes the drop-in
  -- that opens the device with veritysetup --hash-offset and the corruption
  -- option, and leaves devices without hash-offset= to systemd-veritysetup.
  test_prepare_initramfs_inline_on_systemd_252 = function(t)
    local verityboot = require "imgrecipe.verityboot"
    local files, dirs, ran
    local function fresh(with_cli, veritysetup_text)
      files = { ["/usr/bin/dracut"] = "", ["/usr/lib/systemd/systemd-veritysetup"] = veritysetup_text }
      if with_cli then files["/usr/sbin/veritysetup"] = "" end
      dirs, ran = {}, nil
    end
    local root = {
      exists = function(_, p) return files[p] ~= nil end,
      read_file = function(_, p) return files[p] end,
      write_file = function(_, p, text) files[p] = text end,
      mkdir = function(_, p) dirs[p] = true end,
      list_dir = function(_, d) return d == "/usr/lib/dracut/modules.d" and { "01systemd-veritysetup" } or nil end,
      run = function(_, argv) ran = argv end,
    }
    local mod = "/usr/lib/dracut/modules.d/90imgrecipe-inlineverity"
    fresh(false, "Encountered unknown option '%s', ignoring.")
    t:raises(function() verityboot.prepare_initramfs(root, { inline = true }) end,
      "install 'cryptsetup-bin' (os.packages.install: [cryptsetup-bin])")
    fresh(true, "Encountered unknown option '%s', ignoring.")
    verityboot.prepare_initramfs(root, { inline = true })
    t:eq(table.concat(ran, " "), "/usr/bin/dracut --force --regenerate-all")
    t:ok(files["/etc/dracut.conf.d/50-imgrecipe-verity.conf"]:find(
      'add_dracutmodules+=" systemd-veritysetup imgrecipe-inlineverity "', 1, true))
    t:ok(dirs[mod])
    t:ok(files[mod .. "/module-setup.sh"]:find("system-generators/imgrecipe-inline-verity-generator", 1, true))
    t:ok(files[mod .. "/module-setup.sh"]:find("inst_multiple cat mkdir sed veritysetup", 1, true))
    -- A systemd-veritysetup with hash-offset= (254+), or no inline device: no module.
    fresh(false, "hash-offset=")
    verityboot.prepare_initramfs(root, { inline = true })
    t:ok(not files[mod .. "/module-setup.sh"])
    t:ok(files["/etc/dracut.conf.d/50-imgrecipe-verity.conf"]:find('add_dracutmodules+=" systemd-veritysetup "', 1, true))
    fresh(false, "")
    verityboot.prepare_initramfs(root, {})
    t:ok(not files[mod .. "/module-setup.sh"])

    -- The generator, run on the host with a command line of ALIC's.
    fresh(true, "")
    verityboot.install_inline_verity_module(root)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. "/out") == 0)
    local function write(p, text) local f = assert(io.open(p, "w")); f:write(text); f:close() end
    write(dir .. "/gen.sh", files[mod .. "/imgrecipe-inline-verity-generator.sh"])
    write(dir .. "/cmdline", "BOOT_IMAGE=/vmlinuz ro rd.systemd.verity=1 roothash=ab12 "
      .. "systemd.verity_root_data=PARTUUID=5e1f systemd.verity_root_hash=PARTUUID=5e1f "
      .. "systemd.verity_root_options=restart-on-corruption,hash-offset=2130706432 usrhash=cd34 "
      .. "systemd.verity_usr_data=PARTLABEL=usr systemd.verity_usr_hash=PARTLABEL=usrhash "
      .. "systemd.verity_usr_options=panic-on-corruption root=/dev/mapper/root\n")
    t:eq(os.execute("IMGRECIPE_PROC_CMDLINE=" .. dir .. "/cmdline sh " .. dir .. "/gen.sh " .. dir .. "/out"), 0)
    local f = io.open(dir .. "/out/systemd-veritysetup@root.service.d/50-imgrecipe-inline-verity.conf")
    local dropin = f and f:read("*a") or ""
    if f then f:close() end
    local usr = io.open(dir .. "/out/systemd-veritysetup@usr.service.d/50-imgrecipe-inline-verity.conf")
    if usr then usr:close() end
    -- ALIC's default corruption option: the options start with a comma.
    write(dir .. "/cmdline", "usrhash=cd34 systemd.verity_usr_data=UUID=1/2 systemd.verity_usr_hash=UUID=1/2 "
      .. "systemd.verity_usr_options=,hash-offset=4096\n")
    t:eq(os.execute("IMGRECIPE_PROC_CMDLINE=" .. dir .. "/cmdline sh " .. dir .. "/gen.sh " .. dir .. "/out2"), 0)
    f = io.open(dir .. "/out2/systemd-veritysetup@usr.service.d/50-imgrecipe-inline-verity.conf")
    local dropin2 = f and f:read("*a") or ""
    if f then f:close() end
    os.execute("rm -rf " .. dir)
    t:ok(dropin:find("ExecStart=\n", 1, true), "the generator's command reset")
    t:ok(dropin:find('ExecStart=/usr/sbin/veritysetup open "/dev/disk/by-partuuid/5e1f" root '
      .. '"/dev/disk/by-partuuid/5e1f" "ab12" "--restart-on-corruption" "--hash-offset=2130706432"\n', 1, true)
      or dropin:find('ExecStart=/sbin/veritysetup open "/dev/disk/by-partuuid/5e1f" root', 1, true), dropin)
    t:ok(dropin:find("ExecStop=%S*veritysetup close root\n"), "close on stop")
    t:ok(not usr, "a device without hash-offset= is left to systemd-veritysetup")
    t:ok(dropin2:find('open "/dev/disk/by-uuid/1\\\\x2f2" usr "/dev/disk/by-uuid/1\\\\x2f2" "cd34" "--hash-offset=4096"\n', 1, true),
      dropin2)
  end,
}
