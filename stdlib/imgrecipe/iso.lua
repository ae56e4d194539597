--- ISO 9660 boot media and reading ISOs without mounting them (xorriso).
--- A hybrid ISO boots as a CD and as a USB disk, under UEFI (a FAT El
--- Torito image, also appended as the GPT's ESP) and BIOS (GRUB's El Torito
--- image and its hybrid MBR). docs/iso.md.
---
---     local iso = require "imgrecipe.iso"
---     local dir = ctx.work_dir
---     iso.grub_image(dir .. "/esp/EFI/BOOT/BOOTX64.EFI", { target = "x86_64-efi" })
---     iso.fat_image(dir .. "/esp", dir .. "/efiboot.img")
---     iso.write(ctx.params.output, {
---       volume_id = "LIVE", tree = dir .. "/media",
---       files = { { source = dir .. "/squashfs.img", path = "/LiveOS/squashfs.img" } },
---       efi_boot_image = dir .. "/efiboot.img",
---       bios = iso.grub_bios_boot(dir),
---     })
-- @module imgrecipe.iso
local host = require "imgrecipe.host.iso"
local squashfs = require "imgrecipe.squashfs"
local util = require "imgrecipe.util"

local validate = util.validate

local M = {}

---@class imgrecipe.IsoFile
---@field source string host file or directory
---@field path string absolute path on the ISO

---@class imgrecipe.IsoBios
---@field image string host file: the El Torito no-emulation image (GRUB's i386-pc eltorito.img)
---@field path? string where it goes on the ISO (default /boot/grub/i386-pc/eltorito.img)
---@field grub2_boot_info? boolean patch GRUB's boot info into it (default true)
---@field hybrid_mbr? string host file: 512-byte MBR code (GRUB's boot_hybrid.img) so the ISO also boots as a BIOS disk

---@class imgrecipe.IsoSpec
---@field volume_id string 1..32 printable ASCII characters
---@field tree? imgrecipe.Image|imgrecipe.Disk|string the ISO's root: a staging directory (or a mounted tree)
---@field files? imgrecipe.IsoFile[] more files and directories at chosen paths
---@field efi_boot_image? string host FAT image (iso.fat_image): UEFI El Torito entry and the GPT's ESP
---@field bios? imgrecipe.IsoBios BIOS El Torito boot (iso.grub_bios_boot)
---@field rock_ridge? boolean default true
---@field joliet? boolean default true
---@field catalog_path? string El Torito catalog file (default /boot.catalog)
---@field timestamp? integer reproducible: every date in the ISO (seconds since 1970)
---@field application_id? string
---@field publisher? string

--- Writes the ISO `path` atomically (nothing is left on error or
--- interruption). Every source must exist.
---@param path string
---@param spec imgrecipe.IsoSpec
function M.write(path, spec)
  util.check_options("iso.write", spec,
    { "volume_id", "tree", "files", "efi_boot_image", "bios", "rock_ridge", "joliet", "catalog_path", "timestamp", "application_id", "publisher" })
  util.check_option_list("iso.write", "files", spec and spec.files, { "source", "path" })
  if type(spec) == "table" and type(spec.bios) == "table" then
    util.check_options("iso.write: bios", spec.bios, { "image", "path", "grub2_boot_info", "hybrid_mbr" })
  end
  validate("path", path, "string")
  validate("spec", spec, "table")
  validate("spec.volume_id", spec.volume_id, "string")
  validate("spec.files", spec.files, "table", true)
  validate("spec.bios", spec.bios, "table", true)
  local s = {}
  for k, v in pairs(spec) do s[k] = v end
  if spec.tree ~= nil then s.tree = squashfs.tree_path(spec.tree) end
  -- The ISO must not replace one of its own sources.
  local sources = {}
  for _, f in ipairs(spec.files or {}) do
    if type(f) == "table" and type(f.source) == "string" then sources[#sources + 1] = f.source end
  end
  if spec.efi_boot_image then sources[#sources + 1] = spec.efi_boot_image end
  require("imgrecipe.image").check_output(path, "raw", { input = sources })
  host.write(path, s)
end

---@class imgrecipe.IsoEntry
---@field path string "/" for the root, else "/boot/grub/grub.cfg"
---@field type string "-" file, "d" directory, "l" symlink, ...
---@field mode integer
---@field uid integer
---@field gid integer
---@field size integer
---@field link_target? string

--- Every file and directory of an ISO (Rock Ridge names when present).
---@param path string ISO file
---@return imgrecipe.IsoEntry[]
function M.list(path)
  validate("path", path, "string")
  return host.list(path)
end

--- Extracts a file or a tree of an ISO to `dest`, which must not exist
--- (removed again on error).
---@param path string ISO file
---@param iso_path string e.g. "/" or "/LiveOS/squashfs.img"
---@param dest string
function M.extract(path, iso_path, dest)
  validate("path", path, "string")
  validate("iso_path", iso_path, "string")
  validate("dest", dest, "string")
  host.extract(path, iso_path, dest)
end

--- Extracts the ISO's boot images into the new directory `dest`:
--- `eltorito_img<N>_<platform>.img` per El Torito entry (also one hidden in
--- an appended partition), `eltorito_catalog.img`, `systemarea.img` (the
--- first 32 KiB), `mbr_code_*.img`, `gpt_part<N>_*.img`. Returns the names.
---@param path string ISO file
---@param dest string directory to create
---@return string[]
function M.extract_boot_images(path, dest)
  validate("path", path, "string")
  validate("dest", dest, "string")
  return host.extract_boot_images(path, dest)
end

--- The content of one file of an ISO (up to 16 MiB), read through a
--- temporary directory in `work_dir`.
---@param path string ISO file
---@param iso_path string
---@param work_dir string e.g. ctx.work_dir
---@return string
function M.read_file(path, iso_path, work_dir)
  validate("path", path, "string")
  validate("iso_path", iso_path, "string")
  validate("work_dir", work_dir, "string")
  return host.read_file(path, iso_path, work_dir)
end

--- The ISO's volume ID.
---@param path string
---@return string
function M.volume_id(path)
  validate("path", path, "string")
  return host.volume_id(path)
end

---@class imgrecipe.IsoBootEntry
---@field number integer position in the El Torito catalog
---@field platform string "BIOS", "UEFI", "PPC", "Mac"
---@field platform_id integer 0x00 BIOS, 0xEF UEFI
---@field bootable boolean
---@field emulation string "none", "fd1.44", "hd", ...
---@field load_size integer 512-byte sectors
---@field lba integer 2048-byte block of the image
---@field path string the image's file on the ISO ("" for an appended partition)
---@field options string e.g. "boot-info-table grub2-boot-info"

---@class imgrecipe.IsoPartition
---@field number integer
---@field type string MBR "0xef"; GPT the type GUID
---@field start integer 512-byte sector
---@field sectors integer
---@field bootable? boolean MBR
---@field name? string GPT

---@class imgrecipe.IsoBootReport
---@field volume_id string
---@field system_area string e.g. "MBR protective-msdos-label grub2-mbr cyl-align-off GPT"
---@field catalog_path string
---@field entries imgrecipe.IsoBootEntry[]
---@field mbr imgrecipe.IsoPartition[]
---@field gpt imgrecipe.IsoPartition[]

--- The boot records of an ISO: El Torito catalog, MBR and GPT.
---@param path string
---@return imgrecipe.IsoBootReport
function M.boot_report(path)
  validate("path", path, "string")
  return host.boot_report(path)
end

--- xorriso's mkisofs options that reproduce the ISO's boot setup
--- (`-report_el_torito as_mkisofs`), as text.
---@param path string
---@return string
function M.boot_options(path)
  validate("path", path, "string")
  return host.boot_options(path)
end

---@class imgrecipe.FatImageOpts
---@field label? string up to 11 characters
---@field volume_id? string "ABCD-1234" (default random)
---@field size? integer bytes (default: the tree's size plus room for the FAT, at least 2 MiB)
---@field free_space? integer extra free bytes when the size is computed
---@field timestamp? integer times of new directory entries (files keep their mtimes)

--- Makes a FAT image file from a host directory (mkfs.fat + mcopy, no
--- mount): the UEFI El Torito image of an ISO.
---@param source string host directory, e.g. holding EFI/BOOT/BOOTX64.EFI
---@param path string output file
---@param opts? imgrecipe.FatImageOpts
function M.fat_image(source, path, opts)
  util.check_options("iso.fat_image", opts, { "label", "volume_id", "size", "free_space", "timestamp" })
  validate("source", source, "string")
  validate("path", path, "string")
  validate("opts", opts, "table", true)
  host.fat_image(source, path, opts or {})
end

---@class imgrecipe.GrubImageOpts
---@field target? string "bios-eltorito" (default) or "x86_64-efi"
---@field module_dir? string GRUB modules (default the host's /usr/lib/grub/i386-pc or x86_64-efi; an image's copy works too)
---@field prefix? string where GRUB finds grub.cfg and modules (default /boot/grub)
---@field modules? string[] built-in modules (default: what boot media need: iso9660, part_gpt, search, linux, serial, ...)
---@field config_file? string host file embedded as the early config

--- Makes a GRUB core image with grub-mkimage: the BIOS El Torito image
--- (bios-eltorito) or a removable-media EFI loader (x86_64-efi, to put at
--- EFI/BOOT/BOOTX64.EFI of the FAT image).
---@param path string output file
---@param opts? imgrecipe.GrubImageOpts
function M.grub_image(path, opts)
  util.check_options("iso.grub_image", opts, { "target", "module_dir", "prefix", "modules", "config_file" })
  validate("path", path, "string")
  validate("opts", opts, "table", true)
  host.grub_image(path, opts or {})
end

--- The path of GRUB's hybrid MBR boot code (boot_hybrid.img).
---@param module_dir? string default the host's /usr/lib/grub/i386-pc (grub-pc-bin)
---@return string
function M.hybrid_mbr(module_dir)
  validate("module_dir", module_dir, "string", true)
  return host.hybrid_mbr(module_dir)
end

--- Builds `dir`/eltorito.img with the host's GRUB (or `opts.module_dir`)
--- and returns the `bios` field of an ISO spec: BIOS boot as CD and, with
--- the hybrid MBR, as disk. GRUB then reads `<prefix>/grub.cfg` from the ISO.
---@param dir string work directory for the image
---@param opts? imgrecipe.GrubImageOpts target is always bios-eltorito
---@return imgrecipe.IsoBios
function M.grub_bios_boot(dir, opts)
  util.check_options("iso.grub_bios_boot", opts, { "target", "module_dir", "prefix", "modules", "config_file" })
  validate("dir", dir, "string")
  validate("opts", opts, "table", true)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.target = "bios-eltorito"
  local image = dir .. "/eltorito.img"
  host.grub_image(image, o)
  return { image = image, hybrid_mbr = host.hybrid_mbr(o.module_dir) }
end

--- Whether a file is an ISO 9660 image (its volume descriptor "CD001" at
--- byte 32769; also true of hybrid ISOs with an MBR or GPT).
---@param path string
---@return boolean
function M.is_iso(path)
  validate("path", path, "string")
  local f = io.open(path, "rb")
  if not f then return false end
  local ok = f:seek("set", 32769) and f:read(5) == "CD001"
  f:close()
  return ok and true or false
end

return M
