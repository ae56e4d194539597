--- ALIC's `storage.resetPartitionsUuidsType: reset-all` (alic-reference
--- §4.5) on an opened image: every PARTUUID and filesystem UUID new, /etc/fstab
--- and a legacy BIOS GRUB core image following, then (after the OS steps, at
--- the bootloader reset) the ESP's GRUB and grub.cfg following.
---
---     local uuids = require "imgrecipe.uuids"
---     local img = ctx:open(input)            -- not mounted yet
---     local changes = uuids.reset_all(img)   -- mounts it afterwards
---     ...
---     uuids.update_boot(img, changes, { extra_args = {...} })
-- @module imgrecipe.uuids
local storage = require "imgrecipe.host.storage"
local bootloader = require "imgrecipe.bootloader"
local diskboot = require "imgrecipe.diskboot"
local disk = require "imgrecipe.disk"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"

local M = {}

--- fstab text with every `UUID=` and `PARTUUID=` source of `changes`
--- replaced by its new id (case-insensitive, as blkid spells them either
--- way); `PARTLABEL=`, `LABEL=` and device paths stay as they are (ALIC).
---@param text string
---@param changes table[] from reset_all
---@return string new_text
---@return integer n sources changed
function M.rewrite_fstab(text, changes)
  local uuid, partuuid = {}, {}
  for _, c in ipairs(changes) do
    if c.old_uuid ~= "" then uuid[c.old_uuid:lower()] = c.new_uuid end
    partuuid[c.old_partuuid:lower()] = c.new_partuuid
  end
  local n = 0
  local new = util.map_lines(text, function(line)
    local indent, kind, id, rest = line:match("^(%s*)(PARTUUID)=(%S+)(.*)$")
    if not kind then indent, kind, id, rest = line:match("^(%s*)(UUID)=(%S+)(.*)$") end
    if not kind then return line end
    local map = kind == "UUID" and uuid or partuuid
    local to = map[id:lower()]
    if not to then return line end
    n = n + 1
    return indent .. kind .. "=" .. to .. rest
  end)
  return new, n
end

-- The number of the image file's bios-grub partition (GRUB's i386-pc core
-- image), or nil.
local function bios_grub_partition(raw)
  for _, p in ipairs(storage.read_table(raw).partitions) do
    if p.type:lower() == diskboot.BIOS_GRUB_TYPE then return p.number end
  end
end

-- What to mount of the working copy, opened as a whole disk, for
-- grub-install: / and /boot as the image mounts them (same subvolumes).
local function boot_mounts(img)
  local map = {}
  for _, m in ipairs(img:mounts()) do
    if m.target == "/" or m.target == "/boot" then
      map[m.target] = { partition = m.partition, options = m.options ~= "" and m.options or nil }
    end
  end
  return map
end

-- GRUB's i386-pc core image searches /boot by its filesystem UUID: installed
-- again, by the image's grub-install, on the working copy (not mounted as an
-- image now) opened as a whole disk.
local function reinstall_bios(img, map)
  local d = disk.open(img.raw, { work_dir = img.work_dir .. "/bios-grub" })
  local ok, err = pcall(function()
    d:mount(map)
    diskboot.install_bios(d)
    d:unmount()
    log.info("GRUB's i386-pc core image installed again: it finds /boot by its new UUID")
  end)
  d:release()
  if not ok then error(err, 0) end
end

--- Gives every partition of `img` a new PARTUUID and every filesystem a new
--- UUID (ext*, xfs, btrfs, vfat; anything else, or an MBR table, is refused
--- before a change), /etc/fstab following. The new ids are chosen first and
--- fstab rewritten while the image still mounts by the old ones; then the
--- image is unmounted, the ids written, and it is mounted again (with
--- `mount_opts`). A legacy BIOS image (a bios-grub partition) gets GRUB's
--- i386-pc core image installed again in between, by its own grub-install
--- (diskboot.install_bios), because that image finds /boot by the old UUID;
--- an image without grub-install and the i386-pc modules is refused before
--- a change. `img` must not be mounted yet, and its working copy must be
--- in the build directory (opened without a raw `output`). Returns the changes
--- `{number=, old_partuuid=, new_partuuid=, fstype=, old_uuid=, new_uuid=}`.
---@param img imgrecipe.Image
---@param mount_opts? imgrecipe.MountOpts
---@return table[]
function M.reset_all(img, mount_opts)
  util.check_options("uuids.reset_all", mount_opts, { "read_only", "stage_fat", "root_partition" })
  util.validate("img", img, "table")
  if img._mnt then util.raise("usage", "reset_all: the image is mounted; reset its ids before mounting it") end
  local changes = storage.plan_id_reset(img.raw)
  local bios = bios_grub_partition(img.raw)
  local bios_map
  img:mount()
  local ok, err = pcall(function()
    if bios then
      if not diskboot.bios_tools(img) then
        util.raise("config", string.format("reset-all: the image boots with legacy BIOS (bios-grub partition %d), "
          .. "whose GRUB core image must be installed again to find /boot by its new UUID, but the image has no "
          .. "grub-install with i386-pc modules %s", bios, diskboot.BIOS_PACKAGES))
      end
      bios_map = boot_mounts(img)
    end
    local text = img:read_file("/etc/fstab")
    if text then
      local new, n = M.rewrite_fstab(text, changes)
      if new ~= text then img:write_file("/etc/fstab", new) end
      log.info("/etc/fstab: %d entries follow the new ids", n)
    end
  end)
  if not ok then
    img:close()
    error(err, 0)
  end
  img:unmount()
  storage.apply_id_reset(img.raw, { plan = changes })
  for _, c in ipairs(changes) do
    log.info("partition %d: PARTUUID %s -> %s%s", c.number, c.old_partuuid, c.new_partuuid,
      c.fstype ~= "" and string.format(", %s UUID %s -> %s", c.fstype, c.old_uuid, c.new_uuid) or "")
  end
  if bios_map then reinstall_bios(img, bios_map) end
  img:mount(mount_opts)
  return changes
end

-- EFI binaries on the ESP that still embed the old UUID of the boot
-- filesystem (a GRUB core image made by grub-install, whose embedded search
-- runs before any grub.cfg): warned about, since only the image's own tools
-- can rebuild (and sign) them.
local function warn_stale_efi(img, old_uuid)
  if old_uuid == "" then return end
  for _, sub in ipairs(img:list_dir("/boot/efi/EFI") or {}) do
    local dir = "/boot/efi/EFI/" .. sub
    for _, f in ipairs(img:list_dir(dir) or {}) do
      if f:lower():match("%.efi$") then
        local data = img:read_file(dir .. "/" .. f) or ""
        if data:find(old_uuid, 1, true) then
          log.warn("%s/%s embeds the old UUID %s of the filesystem holding /boot: it will not find /boot; "
            .. "reinstall it with the image's grub-install", dir, f, old_uuid)
        end
      end
    end
  end
end

--- After `reset_all`: grub.cfg regenerated (the bootloader hard reset, so
--- root= names the new ids) and the ESP's GRUB pointed at the boot
--- filesystem's new UUID (when an ESP is mounted at /boot/efi).
---@param img imgrecipe.Image
---@param changes table[]
---@param opts? imgrecipe.HardResetOpts
---@return string config the regenerated grub.cfg
function M.update_boot(img, changes, opts)
  util.check_options("uuids.update_boot", opts, { "extra_args", "selinux_mode" })
  local config = bootloader.hard_reset(img, opts)
  local by_number = {}
  for _, c in ipairs(changes) do by_number[c.number] = c end
  local boot, root, esp
  for _, m in ipairs(img:mounts()) do
    if m.target == "/boot" then boot = m end
    if m.target == "/" then root = m end
    if m.target == "/boot/efi" then esp = m end
  end
  if esp then
    local b = boot or root
    local c = b and by_number[b.partition]
    if not c or c.new_uuid == "" then
      util.raise("usage", "reset-all: cannot tell the new UUID of the filesystem holding /boot")
    end
    local grub_dir = util.dirname(config)
    if boot then grub_dir = grub_dir:gsub("^/boot", "") end
    diskboot.update_esp(img, c.new_uuid, grub_dir)
    warn_stale_efi(img, c.old_uuid)
  end
  return config
end

return M
