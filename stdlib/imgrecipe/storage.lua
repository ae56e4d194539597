--- ALIC's `storage:` section (a new disk layout, alic-reference §2.2, §4.3)
--- built only from the public functions of `imgrecipe.disk` and
--- `imgrecipe.diskboot`, so the YAML path and Lua recipes share them.
---
--- `storage_cfg` is shaped like the config: `{bootType=, disks={{
--- partitionTableType=, maxSize=, partitions={{id=, label=, start=, end=,
--- size= (or "grow"), type=}}}}, filesystems={{deviceId=, type=, mountPoint=
--- "/path" or {path=, idType=, options=}, btrfs={subvolumes={{path=,
--- mountPoint=, quota={referencedLimit=, exclusiveLimit=}}}}}}}`.
---
---     local storage = require "imgrecipe.storage"
---     local d = storage.build(img, cfg.storage, { path = ctx.work_dir .. "/disk.raw" })
---     local root = d:root()          -- customize the new layout
---     storage.install_boot(d, cfg.storage, { extra_args = { "console=ttyS0" } })
---     d:save(output, "qcow2")
-- @module imgrecipe.storage
local disk = require "imgrecipe.disk"
local verity = require "imgrecipe.verity"
local diskboot = require "imgrecipe.diskboot"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"

local M = {}

local MIB = 1024 * 1024

--- The mount point of a filesystem entry as `{path=, id_type=, options=}`,
--- or nil (the scalar form is the path).
---@param fs table a storage.filesystems entry
---@return table|nil
function M.mount_point(fs)
  local mp = fs.mountPoint
  if mp == nil then return nil end
  if type(mp) == "string" then return { path = mp, id_type = "part-uuid" } end
  return { path = mp.path, id_type = mp.idType or "part-uuid", options = mp.options }
end

--- The disk size: `maxSize`, or the end of the last partition plus the
--- 1 MiB that holds the backup GPT.
---@param dcfg table a storage.disks entry
---@return integer bytes
function M.disk_size(dcfg)
  if dcfg.maxSize then return disk.parse_size("storage.disks[1].maxSize", dcfg.maxSize) end
  local pos = MIB
  for i, p in ipairs(dcfg.partitions or {}) do
    local name = string.format("storage.disks[1].partitions[%d]", i)
    local start = p.start and disk.parse_size(name .. ".start", p.start) or pos
    if p["end"] then
      pos = disk.parse_size(name .. ".end", p["end"])
    elseif p.size and p.size ~= "grow" then
      pos = start + disk.parse_size(name .. ".size", p.size)
    else
      util.raise("usage", "storage.disks[1]: either the disk must have maxSize or the last partition an end or size")
    end
  end
  return pos + MIB
end

--- The `storage.verity` devices on partitions the input already has
--- (ALIC's two-stage verity: `dataDevice`/`hashDevice`, no `disks`), as
--- `imgrecipe.verityboot.existing_partitions` takes them. nil when there is none.
---@param st table the storage section
---@return imgrecipe.VerityExistingSpec[]|nil
function M.verity_existing(st)
  if st.disks and #st.disks > 0 then return nil end
  local out = {}
  for _, v in ipairs(st.verity or {}) do
    if v.dataDevice and v.hashDevice then
      out[#out + 1] = {
        name = v.name, data_label = v.dataDevice.id, hash_label = v.hashDevice.id,
        data_id_type = v.dataDeviceMountIdType, hash_id_type = v.hashDeviceMountIdType,
        corruption = v.corruptionOption, hash_signature_path = v.hashSignaturePath,
      }
    end
  end
  return #out > 0 and out or nil
end

--- The `storage.verity` devices of a new layout, as
--- `imgrecipe.verityboot.seal` takes them: `{name=, data=, hash= (nil:
--- inline), data_id_type=, hash_id_type=, corruption=, mount_point=}` (data
--- and hash are partition ids). Empty when there is none.
---@param st table the storage section
---@return imgrecipe.VerityBootDevice[]
function M.verity_devices(st)
  local out = {}
  for _, v in ipairs(st.verity or {}) do
    if v.dataDeviceId then
      local mount_point
      for _, fs in ipairs(st.filesystems or {}) do
        if fs.deviceId == v.id then mount_point = (M.mount_point(fs) or {}).path end
      end
      out[#out + 1] = {
        id = v.id, name = v.name, data = v.dataDeviceId,
        hash = v.hashDeviceId ~= v.dataDeviceId and v.hashDeviceId or nil,
        data_id_type = v.dataDeviceMountIdType, hash_id_type = v.hashDeviceMountIdType,
        corruption = v.corruptionOption, mount_point = mount_point,
        hash_signature_path = v.hashSignaturePath,
      }
    end
  end
  return out
end

-- The filesystem entries that get a filesystem (type set), in config order.
local function formatted(st)
  local out = {}
  for _, fs in ipairs(st.filesystems or {}) do
    if fs.type and fs.type ~= "" then out[#out + 1] = fs end
  end
  return out
end

--- Builds the new disk as ALIC does (§4.3): a sparse file of the disk size,
--- the partition table, a filesystem per `filesystems` entry with a type, the
--- layout mounted, the OS tree of `img` (mounted read-only if it is not
--- mounted yet) copied in, and /etc/fstab written from the config. Returns
--- the mounted `imgrecipe.Disk`; on error everything is released.
---@param img imgrecipe.Image the source image
---@param st table the storage section
---@param opts {path: string, arch?: string} path: the new disk file (in the build directory)
---@return imgrecipe.Disk
function M.build(img, st, opts)
  util.check_options("storage.build", opts, { "path", "arch" })
  util.validate("storage", st, "table")
  util.validate("opts", opts, "table")
  util.validate("opts.path", opts.path, "string")
  local disks = st.disks or {}
  if #disks ~= 1 then util.raise("usage", "storage.disks: exactly one disk is supported") end
  local dcfg = disks[1]
  local d = disk.create(opts.path, M.disk_size(dcfg))
  local ok, err = pcall(function()
    local parts = {}
    for i, p in ipairs(dcfg.partitions or {}) do
      parts[i] = { id = p.id, label = p.label, start = p.start, ["end"] = p["end"], size = p.size, type = p.type }
    end
    d:partition { table = dcfg.partitionTableType or "gpt", arch = opts.arch, partitions = parts }
    -- A filesystem on a verity device is made on its data partition (inline:
    -- smaller, the hash tree follows it) and mounted by /dev/mapper/<name>.
    local by_verity, sizes, mapper = {}, {}, {}
    for _, v in ipairs(M.verity_devices(st)) do by_verity[v.id] = v end
    for _, p in ipairs(d:partitions()) do if p.id then sizes[p.id] = p.size end end
    local map, entries = {}, {}
    for _, fs0 in ipairs(formatted(st)) do
      local fs, v = fs0, by_verity[fs0.deviceId]
      if v then fs = setmetatable({ deviceId = v.data }, { __index = fs0 }) end
      local subvolumes = fs.btrfs and fs.btrfs.subvolumes or {}
      local fopts = { type = fs.type }
      if #subvolumes > 0 then
        fopts.subvolumes = {}
        for i, sv in ipairs(subvolumes) do
          local q = sv.quota or {}
          fopts.subvolumes[i] = { path = sv.path, referenced_limit = q.referencedLimit, exclusive_limit = q.exclusiveLimit }
        end
      end
      if v and not v.hash then fopts.size = verity.inline_data_size(sizes[v.data]) end
      local info = d:format(fs.deviceId, fopts)
      -- Mounted for the build without the fstab options (ALIC clears ro and
      -- noexec too); the options go into fstab.
      local mp = M.mount_point(fs)
      if mp then
        map[mp.path] = fs.deviceId
        if v then mapper[mp.path] = "/dev/mapper/" .. v.name end
        entries[#entries + 1] = { partition = fs.deviceId, mount_point = mp.path, id_type = mp.id_type,
                                  options = mp.options, type = info.type }
      end
      for _, sv in ipairs(subvolumes) do
        local smp = M.mount_point(sv)
        if smp then
          map[smp.path] = { partition = fs.deviceId, options = "subvol=" .. sv.path }
          entries[#entries + 1] = { partition = fs.deviceId, mount_point = smp.path, id_type = smp.id_type,
                                    options = smp.options, subvolume = sv.path, type = info.type }
        end
      end
    end
    if not map["/"] then util.raise("usage", "storage.filesystems: no filesystem is mounted at /") end
    d:mount(map)
    d:copy_os_from(img)
    local text = d:fstab_text { entries = entries }
    if next(mapper) then
      local lines = {}
      for line in (text .. "\n"):gmatch("([^\n]*)\n") do
        local sep, rest = line:match("^[^#%s]%S*(%s+)(%S+.*)$")
        local at = rest and rest:match("^(%S+)")
        if at and mapper[at] then line = mapper[at] .. sep .. rest end
        lines[#lines + 1] = line
      end
      text = table.concat(lines, "\n")
    end
    d:root():write_file("/etc/fstab", text)
    log.info("/etc/fstab written from the storage layout (%d entries)", #entries)
    log.debug("%s", text)
  end)
  if not ok then
    d:release()
    error(err, 0)
  end
  return d
end

--- The id type `root=` uses: the `/` mount point's idType (ALIC).
---@param st table the storage section
---@return string
function M.root_id_type(st)
  for _, fs in ipairs(st.filesystems or {}) do
    local mp = M.mount_point(fs)
    if mp and mp.path == "/" then return mp.id_type end
  end
  return "part-uuid"
end

--- Installs the boot loader of the new layout (imgrecipe.diskboot) for
--- `bootType`, root= by the `/` mount point's idType.
---@param d imgrecipe.Disk the disk from `build`
---@param st table the storage section
---@param opts? {extra_args?: string[], selinux_mode?: string, initramfs?: boolean}
---@return table see diskboot.install
function M.install_boot(d, st, opts)
  util.check_options("storage.install_boot", opts, { "extra_args", "initramfs", "selinux_mode" })
  opts = opts or {}
  return diskboot.install(d, {
    boot_type = st.bootType or "efi", root_id_type = M.root_id_type(st),
    extra_args = opts.extra_args, selinux_mode = opts.selinux_mode, initramfs = opts.initramfs,
  })
end

return M
