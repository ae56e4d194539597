-- Error paths of imgrecipe.iso / imgrecipe.squashfs on host directories:
-- which case is chosen by the `case` parameter.
local squashfs = require "imgrecipe.squashfs"
local iso = require "imgrecipe.iso"

return {
  name = "iso-errors",
  params = { case = { required = true }, out = { required = true } },
  run = function(ctx)
    local out, w = ctx.params.out, ctx.work_dir
    os.execute("mkdir -p '" .. w .. "/tree'")
    if ctx.params.case == "missing-source" then
      iso.write(out .. "/x.iso", { volume_id = "X", tree = w .. "/tree",
        files = { { source = w .. "/no-such-payload", path = "/payload" } } })
    elseif ctx.params.case == "missing-squashfs-source" then
      squashfs.create(w .. "/no-such-dir", out .. "/x.squashfs")
    elseif ctx.params.case == "iso-tool" then
      iso.write(out .. "/x.iso", { volume_id = "X", tree = w .. "/tree" })
    elseif ctx.params.case == "squashfs-tool" then
      squashfs.create(w .. "/tree", out .. "/x.squashfs")
    elseif ctx.params.case == "slow-squashfs" then
      -- Incompressible data on one thread: mksquashfs runs for a while.
      os.execute("head -c 300M /dev/urandom > '" .. w .. "/tree/random'")
      squashfs.create(w .. "/tree", out .. "/x.squashfs", { compression = "gzip", level = 9, processors = 1 })
    elseif ctx.params.case == "slow-iso" then
      os.execute("truncate -s 3G '" .. w .. "/tree/zeros'")
      iso.write(out .. "/x.iso", { volume_id = "X", tree = w .. "/tree" })
    elseif ctx.params.case == "small" then
      -- Every primitive once on small trees (for fault injection).
      os.execute("mkdir -p '" .. w .. "/esp/EFI/BOOT' && echo x > '" .. w .. "/tree/file' && echo e > '" .. w .. "/esp/EFI/BOOT/grub.cfg'")
      squashfs.create(w .. "/tree", out .. "/x.squashfs", { level = 1 })
      iso.fat_image(w .. "/esp", w .. "/efi.img")
      iso.write(out .. "/x.iso", { volume_id = "X", tree = w .. "/tree", efi_boot_image = w .. "/efi.img",
        files = { { source = out .. "/x.squashfs", path = "/LiveOS/squashfs.img" } } })
      squashfs.extract(out .. "/x.squashfs", w .. "/sx")
      iso.extract(out .. "/x.iso", "/", w .. "/ix")
    elseif ctx.params.case == "bad-volume-id" then
      iso.write(out .. "/x.iso", { volume_id = string.rep("V", 33), tree = w .. "/tree" })
    end
  end,
}
