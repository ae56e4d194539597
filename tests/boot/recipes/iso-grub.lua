-- A hybrid ISO made only from the boot media primitives and the host's GRUB
-- (no image needed): UEFI FAT El Torito image + appended ESP, BIOS El Torito
-- image + hybrid MBR. Both GRUBs carry an early config that turns on the
-- serial console, prints which one started, finds the ISO by its label and
-- loads the ISO's grub.cfg, which prints a marker with the platform.
local iso = require "imgrecipe.iso"

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- OVMF already mirrors its console on the serial port: EFI GRUB writes to
-- the serial terminal only, or every line would show twice.
local function early(name)
  local terminals = name == "EFI" and "serial" or "serial console"
  return "serial --unit=0 --speed=115200\nterminal_input " .. terminals .. "\nterminal_output " .. terminals .. "\n"
    .. "echo IMGRECIPE-EARLY-" .. name .. "\n"
    .. "search --no-floppy --set=root --label IMGRECIPE_BOOT\nset prefix=($root)/boot/grub\n"
    .. "configfile $prefix/grub.cfg\n"
end

return {
  name = "iso-grub",
  params = { output = { required = true } },
  run = function(ctx)
    local w = ctx.work_dir
    os.execute("mkdir -p '" .. w .. "/media/boot/grub' '" .. w .. "/esp/EFI/BOOT'")
    write(w .. "/media/boot/grub/grub.cfg",
      "echo IMGRECIPE-ISO-GRUB-${grub_platform}\nsleep 600\n")
    write(w .. "/media/payload.txt", "payload on the ISO\n")
    write(w .. "/early-efi.cfg", early("EFI"))
    write(w .. "/early-bios.cfg", early("BIOS"))
    iso.grub_image(w .. "/esp/EFI/BOOT/BOOTX64.EFI", { target = "x86_64-efi", config_file = w .. "/early-efi.cfg" })
    iso.fat_image(w .. "/esp", w .. "/efiboot.img", { label = "EFIBOOT" })
    iso.write(ctx.params.output, {
      volume_id = "IMGRECIPE_BOOT",
      tree = w .. "/media",
      efi_boot_image = w .. "/efiboot.img",
      bios = iso.grub_bios_boot(w, { config_file = w .. "/early-bios.cfg" }),
    })
  end,
}
