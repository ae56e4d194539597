-- imgrecipe.cosi: what it reads from an image (package databases, boot
-- loader, architecture, image UUID), on a fake root object.
local cosi = require "imgrecipe.cosi"

-- A fake mounted image: files in a table.
local function fake(files, run_output)
  return {
    read_file = function(_, p) return files[p] end,
    exists = function(_, p) return files[p] ~= nil end,
    list_dir = function(_, p)
      local out = {}
      for k in pairs(files) do
        local name = k:match("^" .. p:gsub("%p", "%%%0") .. "/([^/]+)$")
        if name then out[#out + 1] = name end
      end
      return #out > 0 and out or nil
    end,
    run = function(_, argv) return { exit_code = 0, output = run_output or {} } end,
  }
end

local STATUS = [[
Package: zlib1g
Status: install ok installed
Architecture: amd64
Version: 1:1.2.13.dfsg-1

Package: bash
Essential: yes
Status: install ok installed
Architecture: amd64
Description: GNU Bourne Again SHell
 Version: not this one
Version: 5.2.15-2+b2

Package: oldpkg
Status: deinstall ok config-files
Architecture: all
Version: 1.0

Package: purged
Status: purge ok not-installed
Architecture: amd64
]]

return {
  test_dpkg_status = function(t)
    local list, installed = cosi.parse_dpkg_status(STATUS)
    t:eq(#list, 3)
    t:eq(list[1].name, "bash")
    t:eq(list[1].version, "5.2.15-2+b2")
    t:eq(list[1].release, "")
    t:eq(list[1].arch, "amd64")
    t:eq(list[2].name, "oldpkg")
    t:eq(list[3].version, "1:1.2.13.dfsg-1")
    t:ok(installed.bash and installed.zlib1g, "installed packages")
    t:ok(not installed.oldpkg and not installed.purged, "config-files and purged are not installed")
  end,
  test_rpm_qa = function(t)
    local list = cosi.parse_rpm_qa("bash 5.2.15 3.azl3 x86_64\ngpg-pubkey 3135ce90 5e6fda74 (none)\n")
    t:eq(#list, 2)
    t:eq(list[1].release, "3.azl3")
    t:eq(list[2].arch, "(none)")
    t:raises(function() cosi.parse_rpm_qa("broken line\n") end, "malformed rpm -qa line")
  end,
  test_packages_dpkg_or_rpm = function(t)
    local deb = fake({ ["/etc/os-release"] = "ID=debian\n", ["/var/lib/dpkg/status"] = STATUS })
    t:eq(#cosi.packages(deb), 3)
    local rpm = fake({ ["/etc/os-release"] = "ID=azurelinux\n", ["/usr/bin/rpm"] = "" },
      { "shim 15.8 1.azl3 x86_64", "grub2-efi-binary 2.06 20.azl3 x86_64" })
    local list, installed = cosi.packages(rpm)
    t:eq(#list, 2)
    t:ok(installed["grub2-efi-binary"], "rpm packages are installed")
    t:eq(cosi.bootloader(rpm, installed).type, "grub")
    t:raises(function() cosi.packages(fake({ ["/etc/os-release"] = "ID=x\n" })) end, "neither /var/lib/dpkg/status nor rpm")
  end,
  test_bootloader = function(t)
    t:eq(cosi.bootloader(fake({}), { ["grub-efi-amd64-bin"] = true }).type, "grub")
    local sdb = fake({
      ["/boot/loader/entries/a.conf"] = "# c\ntitle A\nlinux /vmlinuz-6.6.1\noptions root=/dev/sda2\noptions  ro \"quiet\"\n",
      ["/boot/loader/entries/b.conf"] = "uki /EFI/Linux/vmlinuz-6.6.2.efi\n",
      ["/boot/loader/entries/ignored.txt"] = "linux /x\n",
    })
    local b = cosi.bootloader(sdb, { ["systemd-boot"] = true })
    t:eq(b.type, "systemd-boot")
    t:eq(#b.entries, 2)
    t:eq(b.entries[1].type, "config")
    t:eq(b.entries[1].path, "/boot/loader/entries/a.conf")
    t:eq(b.entries[1].cmdline, "root=/dev/sda2 ro \"quiet\"")
    t:eq(b.entries[1].kernel, "6.6.1")
    t:eq(b.entries[2].type, "uki-config")
    t:eq(b.entries[2].kernel, "6.6.2.efi")
    t:raises(function() cosi.bootloader(fake({}), { ["systemd-boot"] = true }) end, "has no boot entry")
    -- systemd-boot on the ESP with UKIs wins over GRUB's packages; a UKI
    -- not named vmlinuz-<version>.efi has no kernel version to report.
    local ukis = fake({
      ["/boot/efi/EFI/systemd/systemd-bootx64.efi"] = "MZ",
      ["/boot/efi/EFI/Linux/acl.efi"] = "MZ",
    })
    t:raises(function() cosi.bootloader(ukis, { ["grub-efi-amd64-bin"] = true }) end,
      "the UKI /boot/efi/EFI/Linux/acl.efi is not named vmlinuz-<version>.efi")
    t:eq(cosi.bootloader(fake({ ["/boot/efi/EFI/Linux/vmlinuz-6.1.efi"] = "MZ" }), { ["grub-efi-amd64-bin"] = true }).type,
      "grub", "UKIs without systemd-boot on the ESP")
    t:raises(function() cosi.bootloader(fake({}), {}) end, "unknown boot loader")
  end,
  test_arch_and_uuid = function(t)
    local elf = "\127ELF\2\1\1" .. string.rep("\0", 11) .. "\62\0" .. string.rep("\0", 40)
    t:eq(cosi.arch(fake({ ["/usr/bin/env"] = elf })), "x86_64")
    local arm = "\127ELF\2\1\1" .. string.rep("\0", 11) .. "\183\0" .. string.rep("\0", 40)
    t:eq(cosi.arch(fake({ ["/bin/sh"] = arm })), "arm64")
    t:raises(function() cosi.arch(fake({})) end, "give opts.arch")
    t:eq(cosi.image_uuid(fake({ ["/etc/image-customizer-release"] =
      'TOOL_VERSION="1"\nIMAGE_UUID="00112233-4455-6677-8899-aabbccddeeff"\n' })),
      "00112233-4455-6677-8899-aabbccddeeff")
    t:eq(cosi.image_uuid(fake({})), nil)
  end,

  test_parse_level = function(t)
    t:eq(cosi.parse_level(nil, "--x"), nil)
    t:eq(cosi.parse_level("22", "--x"), 22)
    t:eq(cosi.parse_level("1", "--x"), 1)
    t:raises(function() cosi.parse_level("23", "--cosi-compression-level") end,
      "--cosi-compression-level 23: expected a whole number from 1 to 22")
    t:raises(function() cosi.parse_level("0", "--x") end, "--x 0: expected a whole number from 1 to 22")
    t:raises(function() cosi.parse_level("9.5", "--x") end, "expected a whole number")
    t:raises(function() cosi.parse_level("nine", "--x") end, "--x nine: expected a whole number")
  end,

  -- ALIC: level 9 for cosi, 22 for baremetal-image; the 2^27 window for both
  -- (docs/cosi.md, "Speed and memory").
  test_defaults = function(t)
    t:eq(cosi.DEFAULTS.cosi.level, 9)
    t:eq(cosi.DEFAULTS["baremetal-image"].level, 22)
    t:eq(cosi.DEFAULTS.cosi.window_log, 27)
    t:eq(cosi.DEFAULTS["baremetal-image"].window_log, 27)
  end,

  -- Bad options fail before anything is touched (the target is not even looked at).
  test_write_options = function(t)
    t:raises(function() cosi.write({}, "/nonexistent/x.cosi", { format = "iso" }) end,
      "opts.format 'iso': expected cosi or baremetal-image")
    t:raises(function() cosi.write({}, "/nonexistent/x.cosi", { shrink = "some" }) end,
      "opts.shrink 'some': expected true, false or \"filling\"")
    t:raises(function() cosi.write({}, "/nonexistent/x.cosi", { format = "cosi" }) end,
      "argument 'target': expected an Image or a Disk")
  end,
}
