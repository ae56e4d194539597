--- dm-verity on the partitions of a Disk: the hash tree made and checked in
--- process (libcryptsetup, no device-mapper needed), the superblock read
--- back, and the kernel arguments that open it at boot as ALIC writes them
--- (alic-reference.md §4.7). sha256, 4096-byte data and hash blocks. The
--- data filesystem must not change after `format` (unmount it first; mount
--- it read-only afterwards). docs/verity.md.
---
---     local verity = require "imgrecipe.verity"
---     -- separate hash partition
---     local v = verity.format(d, "root", "root-hash")
---     assert(verity.verify(d, "root", "root-hash", v.root_hash))
---     -- inline: the filesystem made at most verity.inline_data_size(partition size)
---     local u = verity.format(d, "usr", nil)
---     local args = verity.kernel_args(d, { { name = "root", data = "root", hash = "root-hash" },
---                                          { name = "usr", data = "usr" } })
-- @module imgrecipe.verity
local host = require "imgrecipe.host.verity"
local disk = require "imgrecipe.disk"
local util = require "imgrecipe.util"

local validate = util.validate

local M = {}

---@class imgrecipe.VerityInfo
---@field root_hash? string hex (from `format`; not stored in the superblock)
---@field salt string hex
---@field uuid string superblock UUID
---@field hash_algorithm string "sha256"
---@field hash_type integer 1
---@field data_block_size integer 4096
---@field hash_block_size integer 4096
---@field data_blocks integer blocks of data hashed
---@field data_size integer bytes of data hashed
---@field hash_offset integer bytes: where the superblock is on the hash partition (inline: the data size)
---@field hash_size integer bytes of the hash area, superblock included
---@field data integer data partition number
---@field hash integer hash partition number (= data for inline)
---@field inline boolean

--- ALIC's inline sizing: the bytes of data (a multiple of 1 MiB) a
--- partition of `size` holds with its hash tree after it. Make the
--- filesystem this size; the tree starts there.
---@param size integer|string partition bytes, or "1G"
---@return integer
function M.inline_data_size(size)
  return host.inline_data_size(disk.parse_size("size", size))
end

--- Bytes of the hash area (superblock and tree) for `data_size` bytes of data.
---@param data_size integer|string
---@return integer
function M.hash_size(data_size)
  local bytes = disk.parse_size("data_size", data_size)
  return host.hash_area_size(math.floor(bytes / 4096))
end

local function partition_of(d, number)
  for _, p in ipairs(d:partitions()) do
    if p.number == number then return p end
  end
  util.raise("usage", string.format("disk has no partition %d", number))
end

-- Calls host function `f`; an error's message names the partitions by id
-- next to their loop device ("partition 'root-hash' (/dev/loop3p2)").
local function on_partitions(d, numbers, f, ...)
  local res = { pcall(f, ...) }
  if res[1] then return unpack(res, 2, table.maxn(res)) end
  local e = res[2]
  if type(e) == "table" and type(e.message) == "string" then
    local named = {}
    for _, n in ipairs(numbers) do
      local dev = d:partition_device(n)
      if not named[dev] then
        named[dev] = true
        local id = partition_of(d, n).id or tostring(n)
        local pattern = dev:gsub("%p", "%%%0")
        local named_dev = string.format("partition '%s' (%s)", id, dev):gsub("%%", "%%%%")
        e.message = e.message:gsub(pattern, named_dev)
      end
    end
  end
  error(e, 0)
end

-- Data and hash partition numbers, and whether they are the same (inline).
local function resolve(d, data, hash)
  validate("disk", d, "table")
  local dn = d:_number(data, "data")
  local hn = hash == nil and dn or d:_number(hash, "hash")
  d:attach()
  return dn, hn, dn == hn
end

-- The hash offset of an inline tree: given, recorded by `format`, or ALIC's sizing.
local function inline_offset(d, dn, opts)
  if opts.hash_offset then return disk.parse_size("opts.hash_offset", opts.hash_offset) end
  local made = d._verity and d._verity[dn]
  if made then return made.hash_offset end
  return M.inline_data_size(partition_of(d, dn).size)
end

---@class imgrecipe.VerityFormatOpts
---@field salt? string hex; default 32 random bytes
---@field uuid? string superblock UUID; default random
---@field data_size? integer|string bytes hashed (a multiple of 4096); default the whole data partition, inline: `inline_data_size` of it
---@field hash_offset? integer|string inline only: where the tree starts; default the data size

--- Hashes partition `data` (number or id) into partition `hash`, or inline
--- (hash nil or the same partition) after the data. The data partition must
--- not be mounted. An ext filesystem larger than the data area is refused
--- (inline, the tree would overwrite it). Returns the root hash, salt and sizes.
---@param d imgrecipe.Disk
---@param data integer|string
---@param hash integer|string|nil
---@param opts? imgrecipe.VerityFormatOpts
---@return imgrecipe.VerityInfo
function M.format(d, data, hash, opts)
  util.check_options("verity.format", opts, { "salt", "uuid", "data_size", "hash_offset" })
  validate("opts", opts, "table", true)
  opts = opts or {}
  local dn, hn, inline = resolve(d, data, hash)
  local data_size
  if opts.data_size then
    data_size = disk.parse_size("opts.data_size", opts.data_size)
    if data_size % 4096 ~= 0 or data_size == 0 then
      util.raise("usage", string.format("opts.data_size: %d is not a positive multiple of 4096", data_size))
    end
  elseif inline then
    data_size = M.inline_data_size(partition_of(d, dn).size)
  end
  local hash_offset = 0
  if inline then
    hash_offset = opts.hash_offset and disk.parse_size("opts.hash_offset", opts.hash_offset) or data_size
  elseif opts.hash_offset then
    util.raise("usage", "opts.hash_offset: only for inline verity (the hash partition's tree starts at 0)")
  end
  local info = on_partitions(d, { dn, hn }, host.format, d._wd, dn, hn, {
    salt = opts.salt, uuid = opts.uuid, hash_offset = hash_offset,
    data_blocks = data_size and math.floor(data_size / 4096) or nil,
  })
  info.data, info.hash, info.inline = dn, hn, inline
  d._verity = d._verity or {}
  d._verity[dn] = info
  return info
end

---@class imgrecipe.VerityLocateOpts
---@field hash_offset? integer|string inline: where the superblock is (default: as `format` wrote it, else ALIC's sizing)

--- Checks every data and hash block against `root_hash`, as `veritysetup
--- verify` does. Returns true, or false and why.
---@param d imgrecipe.Disk
---@param data integer|string
---@param hash integer|string|nil nil or `data`: inline
---@param root_hash string hex
---@param opts? imgrecipe.VerityLocateOpts
---@return boolean ok
---@return string? why
function M.verify(d, data, hash, root_hash, opts)
  util.check_options("verity.verify", opts, { "hash_offset" })
  validate("root_hash", root_hash, "string")
  validate("opts", opts, "table", true)
  opts = opts or {}
  local dn, hn, inline = resolve(d, data, hash)
  return on_partitions(d, { dn, hn }, host.verify, d._wd, dn, hn, inline and inline_offset(d, dn, opts) or 0, root_hash)
end

--- Reads the verity superblock (an image that already uses verity): hash
--- type, block sizes, salt, data blocks, UUID. No root hash: it is not stored
--- there (read it from the kernel command line).
---@param d imgrecipe.Disk
---@param data integer|string
---@param hash integer|string|nil nil or `data`: inline
---@param opts? imgrecipe.VerityLocateOpts
---@return imgrecipe.VerityInfo
function M.read(d, data, hash, opts)
  util.check_options("verity.read", opts, { "hash_offset" })
  validate("opts", opts, "table", true)
  opts = opts or {}
  local dn, hn, inline = resolve(d, data, hash)
  local info = on_partitions(d, { dn, hn }, host.read, d._wd, dn, hn, inline and inline_offset(d, dn, opts) or 0)
  info.data, info.hash, info.inline = dn, hn, inline
  return info
end

local ID_TYPES = { ["part-uuid"] = true, uuid = true, ["part-label"] = true }

-- "PARTUUID=...", "UUID=..." or "PARTLABEL=..." for partition `n`.
-- UUID is the filesystem's on a data partition, the verity superblock's on a
-- hash partition (what blkid reports for it).
local function device_ref(d, n, id_type, name, superblock_uuid)
  id_type = id_type or "part-uuid"
  if not ID_TYPES[id_type] then
    util.raise("usage", string.format("%s: id type '%s' (expected part-uuid, uuid or part-label)", name, id_type))
  end
  local p = partition_of(d, n)
  if id_type == "part-uuid" then return "PARTUUID=" .. p.uuid end
  if id_type == "part-label" then
    if not p.label or p.label == "" then
      util.raise("usage", string.format("%s: partition %d has no label for part-label", name, n))
    end
    return "PARTLABEL=" .. p.label
  end
  local uuid = superblock_uuid or d:filesystem(n).uuid
  if uuid == "" then util.raise("usage", string.format("%s: partition %d has no filesystem UUID", name, n)) end
  return "UUID=" .. uuid
end

---@class imgrecipe.VerityKernelDevice
---@field name "root"|"usr"
---@field data integer|string data partition
---@field hash? integer|string hash partition (nil: inline)
---@field root_hash? string default: the one `format` returned for this disk
---@field data_id_type? "part-uuid"|"uuid"|"part-label" ALIC's dataDeviceMountIdType (default part-uuid)
---@field hash_id_type? "part-uuid"|"uuid"|"part-label" ALIC's hashDeviceMountIdType (default part-uuid)
---@field corruption? "io-error"|"ignore"|"panic"|"restart" default io-error
---@field hash_signature_path? string e.g. "/boot/root.hash.sig"
---@field hash_offset? integer|string inline: default as `format` wrote it

--- The kernel arguments that open the verity devices at boot, exactly as
--- ALIC writes them: `rd.systemd.verity=1`, then per device `roothash=`
--- (`usrhash=`), `systemd.verity_root_data=`, `_hash=`, `_options=`
--- (`systemd.verity_usr_*` for usr), and `pre.verity.mount=<boot_uuid>`
--- when a signature path is given.
---@param d imgrecipe.Disk
---@param devices imgrecipe.VerityKernelDevice[]
---@param opts? {boot_uuid?: string}
---@return string[]
function M.kernel_args(d, devices, opts)
  util.check_options("verity.kernel_args", opts, { "boot_uuid" })
  validate("devices", devices, "table")
  validate("opts", opts, "table", true)
  opts = opts or {}
  local specs = {}
  for i, v in ipairs(devices) do
    local name = string.format("devices[%d]", i)
    validate(name, v, "table")
    local dn, hn, inline = resolve(d, v.data, v.hash)
    local made = d._verity and d._verity[dn]
    local root_hash = v.root_hash or (made and made.root_hash)
    if not root_hash then
      util.raise("usage", string.format("%s.root_hash: not given and partition %d was not formatted here", name, dn))
    end
    local hash_offset = inline and inline_offset(d, dn, v) or 0
    local sb_uuid
    if v.hash_id_type == "uuid" and not inline then sb_uuid = host.read(d._wd, dn, hn, hash_offset).uuid end
    specs[i] = {
      name = v.name, root_hash = root_hash,
      data = device_ref(d, dn, v.data_id_type, name .. ".data_id_type"),
      hash = device_ref(d, hn, v.hash_id_type, name .. ".hash_id_type", sb_uuid),
      corruption = v.corruption, hash_signature_path = v.hash_signature_path, hash_offset = hash_offset,
    }
  end
  return host.kernel_args(specs, opts.boot_uuid)
end

return M
