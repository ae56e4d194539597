-- Customizes the test image (host name, a user, a kernel argument) and writes
-- it as raw, as COSI and as a LiveOS-style ISO (LiveOS/rootfs.img squashfs and
-- a media grub.cfg, made with imgrecipe.squashfs and imgrecipe.iso), for
-- `imgrecipe inspect` to read back.
local cosi = require "imgrecipe.cosi"
local squashfs = require "imgrecipe.squashfs"
local iso = require "imgrecipe.iso"

return {
  name = "inspect-media",
  params = { input = { required = true }, dir = { required = true } },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount()
    img:set_hostname("inspect-host")
    img:run({ "useradd", "-m", "-u", "1234", "-s", "/bin/bash", "inspector" })
    img:append_kernel_args({ "inspect.marker=1" })
    local dir = ctx.params.dir
    local rootfs = ctx.work_dir .. "/rootfs.img"
    squashfs.create(img, rootfs, { compression = "gzip", level = 1,
      exclude = { "usr/share/doc/*", "usr/share/locale/*", "usr/share/man/*" } })
    local cfg = ctx.work_dir .. "/grub.cfg"
    local f = assert(io.open(cfg, "w"))
    f:write('menuentry "Live inspect" {\n  linux /boot/vmlinuz root=live:CDLABEL=INSPECT rd.live.image inspect.live=1\n}\n')
    f:close()
    iso.write(dir .. "/live.iso", { volume_id = "INSPECT", files = {
      { source = rootfs, path = "/LiveOS/rootfs.img" },
      { source = cfg, path = "/boot/grub/grub.cfg" } } })
    cosi.write(img, dir .. "/disk.cosi", { level = 1 })
    img:save(dir .. "/disk.raw", "raw")
  end,
}
