-- The boot media primitives composed by hand: a squashfs of an image's OS
-- (mounted read-only), a UEFI FAT boot image and a BIOS GRUB El Torito image
-- made with the host's GRUB, and a hybrid ISO holding the squashfs; then the
-- ISO read back through imgrecipe.iso into a report.
local squashfs = require "imgrecipe.squashfs"
local iso = require "imgrecipe.iso"

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

return {
  name = "iso-primitives",
  params = { input = { required = true }, out = { required = true }, report = { required = true } },
  run = function(ctx)
    local out, w = ctx.params.out, ctx.work_dir
    local img = ctx:open(ctx.params.input)
    img:mount({ read_only = true })
    squashfs.create(img, out .. "/root.squashfs", {
      exclude = { "/proc/*", "/sys/*", "/dev/*", "/run/*", "/boot/efi/*" }, timestamp = 1700000000, level = 3,
    })
    img:close()

    local cfg = "set timeout=1\nserial --unit=0 --speed=115200\nterminal_output serial console\n"
      .. "echo IMGRECIPE-ISO-GRUB\nsearch --no-floppy --set=root --label IMGRECIPE_LIVE\n"
    os.execute("mkdir -p '" .. w .. "/media/boot/grub' '" .. w .. "/esp/EFI/BOOT'")
    write(w .. "/media/boot/grub/grub.cfg", cfg)
    write(w .. "/esp/EFI/BOOT/grub.cfg", "configfile /boot/grub/grub.cfg\n")
    iso.grub_image(w .. "/esp/EFI/BOOT/BOOTX64.EFI", { target = "x86_64-efi" })
    iso.fat_image(w .. "/esp", w .. "/efiboot.img", { label = "EFIBOOT" })
    iso.write(out .. "/live.iso", {
      volume_id = "IMGRECIPE_LIVE",
      tree = w .. "/media",
      files = { { source = out .. "/root.squashfs", path = "/LiveOS/squashfs.img" } },
      efi_boot_image = w .. "/efiboot.img",
      bios = iso.grub_bios_boot(w),
      timestamp = 1700000000,
    })

    local lines = { "volume_id=" .. iso.volume_id(out .. "/live.iso") }
    local r = iso.boot_report(out .. "/live.iso")
    for _, e in ipairs(r.entries) do
      lines[#lines + 1] = string.format("entry %d platform=0x%02x bootable=%s path=%s", e.number, e.platform_id,
        tostring(e.bootable), e.path)
    end
    for _, p in ipairs(r.gpt) do lines[#lines + 1] = string.format("gpt %d %s %s", p.number, p.type, p.name) end
    for _, e in ipairs(iso.list(out .. "/live.iso")) do
      if e.path == "/LiveOS/squashfs.img" then lines[#lines + 1] = "squashfs_size=" .. e.size end
    end
    lines[#lines + 1] = "grub_cfg_first=" .. iso.read_file(out .. "/live.iso", "/boot/grub/grub.cfg", w):match("^[^\n]*")
    for _, e in ipairs(squashfs.list(out .. "/root.squashfs")) do
      if e.path == "/etc/hostname" then lines[#lines + 1] = string.format("sq_hostname mode=%o size=%d", e.mode, e.size) end
    end
    lines[#lines + 1] = "boot_images=" .. table.concat(iso.extract_boot_images(out .. "/live.iso", w .. "/boot-images"), " ")
    local f = assert(io.open(w .. "/boot-images/eltorito_img2_uefi.img", "rb"))
    local uefi = f:read("*a")
    f:close()
    f = assert(io.open(w .. "/efiboot.img", "rb"))
    lines[#lines + 1] = "uefi_image_is_efiboot=" .. tostring(uefi == f:read("*a"))
    f:close()
    write(ctx.params.report, table.concat(lines, "\n") .. "\n")
  end,
}
