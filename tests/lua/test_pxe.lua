-- imgrecipe.pxe, the parts that are pure text: the ISO's URL and name
-- (ALIC's rules), the PXE kernel arguments, the tree's grub.cfg, the
-- dracut check's message, and the output checks (no image needed).
local pxe = require "imgrecipe.pxe"

local function fake_root(files)
  return { exists = function(_, p) return files[p] ~= nil end }
end

local function err_of(f)
  local ok, e = pcall(f)
  assert(not ok, "expected an error")
  return tostring(e)
end

return {
  test_bootstrap_url = function(t)
    local url, name = pxe.bootstrap_url("http://10.0.2.2:8000/pxe/", nil)
    t:eq(url, "http://10.0.2.2:8000/pxe/image.iso")
    t:eq(name, "image.iso")
    url, name = pxe.bootstrap_url(nil, "https://srv.example/isos/live-1.iso")
    t:eq(url, "https://srv.example/isos/live-1.iso")
    t:eq(name, "live-1.iso")
    url, name = pxe.bootstrap_url("", "tftp://10.0.2.2/a.iso?x=1")
    t:eq(name, "a.iso")
    t:ok(err_of(function() pxe.bootstrap_url("http://a/", "http://a/b.iso") end):find("cannot both be set", 1, true))
    t:ok(err_of(function() pxe.bootstrap_url(nil, nil) end):find("needs pxe.bootstrapBaseUrl or pxe.bootstrapFileUrl", 1, true))
    t:ok(err_of(function() pxe.bootstrap_url("file:///srv", nil) end):find("expected an ftp, http, https, nfs or tftp URL", 1, true))
    t:ok(err_of(function() pxe.bootstrap_url(nil, "http://host") end):find("names no file", 1, true))
    t:ok(err_of(function() pxe.bootstrap_url("http://a/$x", nil) end):find("kernel argument", 1, true))
  end,

  test_boot_args_and_grub_config = function(t)
    local args = pxe.boot_args("http://10.0.2.2:8000/image.iso", { "console=ttyS0", "imgrecipe.pxe=1" })
    t:eq(table.concat(args, " "), "root=live:http://10.0.2.2:8000/image.iso rd.live.image rd.live.dir=LiveOS "
      .. "rd.live.squashimg=rootfs.img rd.live.overlay.overlayfs rd.live.overlay.nouserconfirmprompt ip=dhcp "
      .. "console=ttyS0 imgrecipe.pxe=1")
    local text = pxe.grub_config({ kernel = "/boot/vmlinuz-6.1", initrd = "/boot/initrd.img-6.1", args = args,
                                   title = 'Debian "12"' })
    t:ok(not text:find("search", 1, true), "no search command")
    t:ok(text:find("\tlinux\t/boot/vmlinuz-6.1 root=live:http://10.0.2.2:8000/image.iso rd.live.image ", 1, true), "kernel line")
    t:ok(text:find("\tinitrd\t/boot/initrd.img-6.1\n", 1, true), "initrd line")
    t:ok(text:find('menuentry "Debian 12" {', 1, true), "title without quotes")
    local seeded = pxe.grub_config({ kernel = "/k", initrd = "/i", args = { "ip=dhcp", "ds=nocloud;s=http://10.0.2.2/" } })
    t:ok(seeded:find("\tlinux\t/k ip=dhcp 'ds=nocloud;s=http://10.0.2.2/'\n", 1, true), "a ';' argument single-quoted")
  end,

  test_check_dracut_names_packages = function(t)
    local base = {
      ["/usr/bin/dracut"] = true,
      ["/usr/lib/dracut/modules.d/90dmsquash-live/module-setup.sh"] = true,
      ["/usr/lib/dracut/modules.d/90livenet/module-setup.sh"] = true,
      ["/usr/bin/pgrep"] = true,
    }
    local e = err_of(function() pxe.check_dracut(fake_root(base)) end)
    t:ok(e:find("the image has no dracut's network module, dracut's network-legacy module, dracut's url-lib module, "
      .. "curl, dhclient, arping, ip,", 1, true), e)
    t:ok(e:find("Debian/Ubuntu packages: dracut-network, curl, isc-dhcp-client, iputils-arping, iproute2)", 1, true), e)
    for _, m in ipairs({ "40network", "35network-legacy", "45url-lib" }) do
      base["/usr/lib/dracut/modules.d/" .. m .. "/module-setup.sh"] = true
    end
    base["/usr/bin/curl"] = true
    base["/usr/sbin/dhclient"] = true
    base["/usr/bin/arping"] = true
    base["/usr/bin/ip"] = true
    pxe.check_dracut(fake_root(base))
    base["/usr/lib/dracut/modules.d/90livenet/module-setup.sh"] = nil
    t:ok(err_of(function() pxe.check_dracut(fake_root(base)) end):find("no dracut's livenet module,", 1, true))
  end,

  test_check_output = function(t)
    t:ok(err_of(function() pxe.check_output("/", "pxe-dir") end):find("not empty", 1, true))
    t:ok(err_of(function() pxe.check_output("/etc/hostname", "pxe-dir") end):find("is not a directory", 1, true))
    t:ok(err_of(function() pxe.check_output("/nonexistent-dir/x", "pxe-dir") end):find("does not exist", 1, true))
    t:ok(err_of(function() pxe.check_output("/tmp/x", "iso") end):find("expected pxe-dir or pxe-tar", 1, true))
  end,
}
