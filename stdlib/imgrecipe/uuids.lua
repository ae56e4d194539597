--- ALIC's `storage.resetPartitionsUuidsType: reset-all` (alic-reference
--- §4.5) on an opened image: every PARTUUID and filesystem UUID new, /etc/fstab
--- following, then (after the OS steps, at the bootloader reset) the ESP's
--- GRUB and grub.cfg following.
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

--- Gives every partition of `img` a new PARTUUID and every filesystem a new
--- UUID (ext*, xfs, btrfs, vfat; anything else, or an MBR table, is refused
--- before a change), /etc/fstab following. The new ids are chosen first and
--- fstab rewritten while the image still mounts by the old ones; then the
--- image is unmounted, the ids written, and it is mounted again (with
--- `mount_opts`). `img` must not be mounted yet, and its working copy must be
--- in the build directory (opened without a raw `output`). Returns the changes
--- `{number=, old_partuuid=, new_partuuid=, fstype=, old_uuid=, new_uuid=}`.
---@param img imgrecipe.Image
---@param mount_opts? imgrecipe.MountOpts
---@return table[]
function M.reset_all(img, mount_opts)
  util.validate("img", img, "table")
  if img._mnt then util.raise("usage", "reset_all: the image is mounted; reset its ids before mounting it") end
  local changes = storage.plan_id_reset(img.raw)
  img:mount()
  local ok, err = pcall(function()
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
  img:mount(mount_opts)
  return changes
end

--- After `reset_all`: grub.cfg regenerated (the bootloader hard reset, so
--- root= names the new ids) and the ESP's GRUB pointed at the boot
--- filesystem's new UUID (when an ESP is mounted at /boot/efi).
---@param img imgrecipe.Image
---@param changes table[]
---@param opts? imgrecipe.HardResetOpts
---@return string config the regenerated grub.cfg
function M.update_boot(img, changes, opts)
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
  end
  return config
end

return M
