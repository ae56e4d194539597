--- New disks, one level below `Image`: create a blank disk file, partition
--- it, make filesystems, mount a layout as a new root, copy an OS from an
--- image into it, write its fstab and save it in any output format
--- (issue 8 §3; alic-reference.md §4.3 is the order ALIC does this in).
---
---     local disk = require "imgrecipe.disk"
---     local d = disk.create(ctx.work_dir .. "/new.raw", "3G")
---     d:partition{ table = "gpt", partitions = {
---       { id = "esp", type = "esp", size = "64M" },
---       { id = "root", type = "root", grow = true } } }
---     d:format("esp", { type = "vfat", label = "ESP" })
---     d:format("root", { type = "ext4" })
---     local root = d:mount{ ["/"] = "root", ["/boot/efi"] = "esp" }
---     d:copy_os_from(img)
---     d:write_fstab{ id_type = "uuid" }
---     root:write_file("/etc/hostname", "new\n")
---     d:save(ctx.params.output, "qcow2")
---     d:release()
-- @module imgrecipe.disk
local storage = require "imgrecipe.host.storage"
local host_image = require "imgrecipe.host.image"
local sys = require "imgrecipe.host.sys"
local exec = require "imgrecipe.host.exec"
local log = require "imgrecipe.host.log"
local image = require "imgrecipe.image"
local util = require "imgrecipe.util"

local validate = util.validate

local M = {}

local UNITS = { [""] = 1, K = 1024, M = 1024 ^ 2, G = 1024 ^ 3, T = 1024 ^ 4 }

--- A size in bytes from a number of bytes or an ALIC size string
--- (`"512"`, `"8M"`, `"3G"`, `"1T"`; K/M/G/T are powers of 1024, an
--- optional trailing `iB`/`B` is accepted).
---@param name string argument name for errors
---@param value integer|string
---@return integer
function M.parse_size(name, value)
  if type(value) == "number" then
    if value < 0 or value ~= math.floor(value) then
      util.raise("usage", string.format("%s: expected a whole number of bytes, got %s", name, tostring(value)))
    end
    return value
  end
  if type(value) ~= "string" then
    util.raise("usage", string.format("%s: expected a size (bytes or a string such as \"8M\"), got %s",
      name, type(value)))
  end
  local n, unit = value:match("^(%d+)%s*([KMGT]?)i?B?$")
  if not n then
    util.raise("usage", string.format("%s: invalid size '%s' (expected e.g. \"512\", \"8M\", \"3G\")", name, value))
  end
  return tonumber(n) * UNITS[unit]
end

---@class imgrecipe.Disk
---@field path string the raw disk file
---@field size integer bytes
---@field work_dir string mount points and FAT staging of this disk
---@field table_info? table the partition table written: `{table=, disk_id=, partitions={...}}`
local Disk = {}
Disk.__index = Disk

---@class imgrecipe.DiskCreateOpts
---@field overwrite? boolean replace an existing regular file at `path`
---@field work_dir? string where mount points and FAT stages go (default `<path>.d`)
---@field keep? boolean keep the disk file after release (default: removed, it is a working file)

--- Creates a blank sparse disk file of `size` (bytes, or `"3G"`) at `path`
--- in the build directory (e.g. under `ctx.work_dir`). The file is a working
--- copy: `Disk:save` writes the output; the file itself is removed
--- on release (or when the run ends) unless `keep`.
---@param path string host path of the new raw disk file
---@param size integer|string
---@param opts? imgrecipe.DiskCreateOpts
---@return imgrecipe.Disk
function M.create(path, size, opts)
  util.check_options("disk.create", opts, { "overwrite", "work_dir", "keep" })
  validate("path", path, "string")
  validate("opts", opts, "table", true)
  opts = opts or {}
  local bytes = M.parse_size("size", size)
  -- Working files stay in the build directory (sys.mkdir refuses elsewhere).
  sys.mkdir(util.dirname(path))
  local work_dir = opts.work_dir or (path .. ".d")
  sys.mkdir(work_dir)
  local file = storage.create_disk(path, bytes, { overwrite = opts.overwrite })
  if opts.keep then file:keep() end
  return setmetatable({ path = path, size = bytes, work_dir = work_dir, _file = file, _fs = {}, _mount_options = {} },
    Disk)
end

--- Opens an existing raw disk file in the build directory (an image's
--- working copy, `img.raw`, while the image is not mounted) as a Disk: its
--- partition table read back, each partition's id its number ("1", "2",
--- ...). The file is never removed, and must not be attached or mounted
--- elsewhere while the Disk is (release it before mounting the image again).
---@param path string
---@param opts? {work_dir?: string} where mount points go (default `<path>.d`)
---@return imgrecipe.Disk
function M.open(path, opts)
  util.check_options("disk.open", opts, { "work_dir" })
  validate("path", path, "string")
  validate("opts", opts, "table", true)
  opts = opts or {}
  local work_dir = opts.work_dir or (path .. ".d")
  sys.mkdir(work_dir)
  local file = storage.open_disk(path)
  local t = storage.read_table(path)
  local ids = {}
  for _, p in ipairs(t.partitions) do
    p.id = tostring(p.number)
    ids[p.id] = p.number
  end
  return setmetatable({ path = path, size = file:size(), work_dir = work_dir, _file = file, _fs = {},
                        _mount_options = {}, table_info = t, _ids = ids }, Disk)
end

---@class imgrecipe.PartitionSpec
---@field id? string name used by `format`, `mount` and `write_fstab` (and errors)
---@field type? string esp, bios-grub, root, root-verity, usr, usr-verity, var, home, srv, swap, tmp,
---  xbootldr, linux-generic (default) or a GUID
---@field start? integer|string default: 1 MiB for the first partition, else the previous end
---@field end? integer|string exclusive end (not with size)
---@field size? integer|string
---@field grow? boolean last partition only: to the end of the disk
---@field label? string GPT PARTLABEL
---@field uuid? string GPT PARTUUID (default random)
---@field bootable? boolean MBR active flag

---@class imgrecipe.DiskLayout
---@field table? string "gpt" (default) or "mbr"
---@field disk_id? string GPT disk GUID or MBR identifier (default random)
---@field arch? string "x86_64" (default) or "arm64": the root/usr type GUIDs
---@field partitions imgrecipe.PartitionSpec[]

--- Writes a new partition table (docs/disks.md: 1 MiB placement, ALIC type
--- names). Returns the partitions read back: `{number=, id=, start=, size=,
--- type=, uuid= (PARTUUID), label=}`.
---@param layout imgrecipe.DiskLayout
---@return table[]
function Disk:partition(layout)
  validate("layout", layout, "table")
  util.check_options("disk:partition", layout, { "table", "disk_id", "arch", "partitions" })
  validate("layout.partitions", layout.partitions, "table")
  util.check_option_list("disk:partition", "partitions", layout.partitions,
    { "id", "type", "start", "end", "size", "grow", "label", "uuid", "bootable" })
  if self._wd then util.raise("usage", "the disk is attached: partition it before attach() or mount()") end
  local parts, ids = {}, {}
  for i, p in ipairs(layout.partitions) do
    validate(string.format("layout.partitions[%d]", i), p, "table")
    local name = string.format("layout.partitions[%d]", i)
    local q = {}
    for k, v in pairs(p) do q[k] = v end
    for _, k in ipairs({ "start", "end", "size" }) do
      if p[k] == "grow" and k == "size" then
        q.size, q.grow = nil, true
      elseif p[k] ~= nil then
        q[k] = M.parse_size(name .. "." .. k, p[k])
      end
    end
    q.id = p.id or tostring(i)
    if ids[q.id] then util.raise("usage", string.format("%s.id: '%s' is used twice", name, q.id)) end
    ids[q.id] = i
    parts[i] = q
  end
  local t = storage.partition(self._file, {
    table = layout.table, disk_id = layout.disk_id, arch = layout.arch, partitions = parts })
  for i, p in ipairs(t.partitions) do p.id = parts[i] and parts[i].id or tostring(p.number) end
  self.table_info = t
  self._ids = ids
  return t.partitions
end

--- The partitions written by `partition`: `{number=, id=, start=, size=,
--- type=, uuid= (PARTUUID), label=, device=}`, `device` (the host block
--- device) only while the disk is attached.
---@return table[]
function Disk:partitions()
  if not self.table_info then return {} end
  local out = {}
  for i, p in ipairs(self.table_info.partitions) do
    local q = {}
    for k, v in pairs(p) do q[k] = v end
    if self._wd then q.device = self._wd:partition_device(p.number) end
    out[i] = q
  end
  return out
end

-- Partition number of `n` (a number or a partition id).
function Disk:_number(n, name)
  if type(n) == "number" then return n end
  if type(n) == "string" and self._ids and self._ids[n] then return self._ids[n] end
  if type(n) == "string" then
    util.raise("usage", string.format("%s: no partition with id '%s'", name, n))
  end
  util.raise("usage", string.format("%s: expected a partition number or id, got %s", name, type(n)))
end

--- Attaches the disk as a whole-disk loop device with its partitions as
--- `/dev/loopNpM` (no partition scan or udev needed). `format` and `mount`
--- attach on their own.
---@return imgrecipe.Disk self
function Disk:attach()
  if not self._wd then self._wd = storage.attach(self._file) end
  return self
end

--- The host device of partition `n` (number or id) while attached.
---@param n integer|string
---@return string
function Disk:partition_device(n)
  self:attach()
  return self._wd:partition_device(self:_number(n, "partition"))
end

---@class imgrecipe.FormatOpts
---@field type string ext4, xfs, vfat, fat32 or btrfs
---@field label? string
---@field uuid? string filesystem UUID (vfat: volume ID "ABCD-1234"); default random
---@field subvolumes? {path: string, referenced_limit?: integer|string, exclusive_limit?: integer|string}[] btrfs only
---@field size? integer|string ext4 and vfat: bytes of the filesystem when smaller than the partition (inline verity: `verity.inline_data_size`)

--- Makes a filesystem on partition `n` (number or id) with the pinned
--- feature set of docs/disks.md. Returns `{type=, uuid=, label=, device=}`.
---@param n integer|string
---@param opts imgrecipe.FormatOpts
---@return table
function Disk:format(n, opts)
  util.check_options("disk:format", opts, { "type", "label", "uuid", "subvolumes", "size" })
  validate("opts", opts, "table")
  local number = self:_number(n, "partition")
  self:attach()
  local o = { type = opts.type, label = opts.label, uuid = opts.uuid,
              size = opts.size and M.parse_size("opts.size", opts.size) }
  if opts.subvolumes then
    validate("opts.subvolumes", opts.subvolumes, "table")
    o.subvolumes = {}
    for i, s in ipairs(opts.subvolumes) do
      validate(string.format("opts.subvolumes[%d]", i), s, "table")
      local name = string.format("opts.subvolumes[%d]", i)
      o.subvolumes[i] = {
        path = s.path,
        referenced_limit = s.referenced_limit and M.parse_size(name .. ".referenced_limit", s.referenced_limit),
        exclusive_limit = s.exclusive_limit and M.parse_size(name .. ".exclusive_limit", s.exclusive_limit),
      }
    end
    o.work_dir = string.format("%s/mkfs-p%d", self.work_dir, number)
    sys.mkdir(o.work_dir)
  end
  local info = storage.mkfs(self._wd, number, o)
  info.subvolumes = opts.subvolumes
  self._fs[number] = info
  log.info(string.format("partition %d: %s uuid %s", number, info.type, info.uuid))
  return info
end

--- The filesystem on partition `n` (number or id) as made by `format`, or
--- probed from the device (attaching the disk): `{type=, uuid=, label=}`,
--- empty strings when there is none.
---@param n integer|string
---@return {type: string, uuid: string, label: string}
function Disk:filesystem(n)
  local number = self:_number(n, "partition")
  local fs = self._fs[number]
  if fs then return { type = fs.type, uuid = fs.uuid, label = fs.label or "" } end
  self:attach()
  local info = storage.probe(self._wd, number)
  return { type = info.type or "", uuid = info.uuid or "", label = info.label or "" }
end

-- The mounted new root: the file and command methods of an Image (write_file,
-- read_file, run, ...), acting on the disk's mounted layout.
---@class imgrecipe.DiskRoot: imgrecipe.Image
local DiskRoot = {}
DiskRoot.__index = function(_, k)
  local v = DiskRoot[k]
  if v ~= nil then return v end
  return image.Image[k]
end

function DiskRoot:_root()
  local d = self._disk
  if not d._map then util.raise("usage", "the disk is not mounted: call disk:mount{...} first") end
  return d._map:root_path()
end

--- Runs a command in the new root (see Image:run). The disk
--- (`/dev/imgrecipe-disk`) and its partitions are visible in its /dev, with
--- the `/dev/disk/by-uuid`, `by-partuuid`, `by-label`, `by-partlabel` links
--- udev would make, so grub-probe, grub-mkconfig and grub-install find the
--- new layout's devices.
---@param command string|string[]
---@param opts? imgrecipe.RunOpts
function DiskRoot:run(command, opts)
  util.check_options("root:run", opts,
    { "step", "env", "binds", "cwd", "stdin", "check", "quiet", "secret", "network" })
  util.check_option_list("root:run", "binds", opts and opts.binds, { "host", "image", "read_only", "recursive" })
  validate("command", command, { "string", "table" })
  validate("opts", opts, "table", true)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.devices = self._disk:attach()._wd
  if type(command) == "string" then command = { "/bin/sh", "-c", command } end
  return exec.chroot(self:_root(), command, o)
end

--- The mounted filesystems: `{target=, device=, fstype=, staged=}`.
function DiskRoot:mounts() return self._disk:mounts() end
--- Image:mount does not apply: the disk's layout is mounted by Disk:mount.
function DiskRoot:mount() return self end
--- Unmounts the disk's layout (staged FAT written back).
function DiskRoot:unmount() return self._disk:unmount() end
--- Saves the disk (see Disk:save).
---@param path string
---@param format string
function DiskRoot:save(path, format) return self._disk:save(path, format) end
--- Releases the disk (see Disk:release).
function DiskRoot:close() return self._disk:release() end

--- Mounts partitions at paths of a new root, read-write, parents first:
--- `{ ["/"] = 2, ["/boot/efi"] = "esp", ["/var"] = { partition = 3, options = "noatime" } }`.
--- Targets are resolved inside the new root; FAT is staged where the kernel
--- cannot mount vfat. Returns the root, which has the file and command
--- methods of an Image (`write_file`, `read_file`, `run`, ...).
---@param map table<string, integer|string|{partition: integer|string, options?: string}>
---@param opts? {stage_fat?: boolean}
---@return imgrecipe.DiskRoot
function Disk:mount(map, opts)
  util.check_options("disk:mount", opts, { "stage_fat" })
  validate("map", map, "table")
  validate("opts", opts, "table", true)
  if self._map then util.raise("usage", "the disk is already mounted") end
  self:attach()
  local entries = {}
  self._mount_options = {}
  for path, v in pairs(map) do
    local name = string.format("map[%q]", tostring(path))
    if type(path) ~= "string" then util.raise("usage", name .. ": the key must be a mount path") end
    local part, options = v, nil
    if type(v) == "table" then part, options = v.partition, v.options end
    local number = self:_number(part, name)
    local fs = self._fs[number]
    entries[#entries + 1] = { path = path, disk = self._wd, partition = number,
                              fstype = fs and fs.type or nil, options = options }
    self._mount_options[path] = options
  end
  self._map = storage.mount_map(self.work_dir .. "/root", self.work_dir, entries, opts or {})
  -- work_dir: what Image methods keep in the build directory (package sources, ...).
  self._rootobj = setmetatable({ _disk = self, input = self.path, work_dir = self.work_dir }, DiskRoot)
  return self._rootobj
end

--- The mounted new root (see Disk:mount).
---@return imgrecipe.DiskRoot
function Disk:root()
  if not self._map then util.raise("usage", "the disk is not mounted: call disk:mount{...} first") end
  return self._rootobj
end

--- The mounted filesystems: `{target=, device=, fstype=, staged=, options=}`
--- (options as given to Disk:mount, e.g. "subvol=root"; nil for defaults).
---@return table[]
function Disk:mounts()
  if not self._map then return {} end
  local list = self._map:mounts()
  for _, m in ipairs(list) do m.options = self._mount_options[m.target] end
  return list
end

--- Copies the whole OS tree of an image (mounted read-only first if it is
--- not mounted) into the mounted layout, across the image's own mounts:
--- owners, modes, timestamps, hard links, symlinks, device nodes, sparse
--- files, ACLs and xattrs (SELinux labels, capabilities) are kept
--- (`cp --archive --preserve=all --sparse=always`).
---@param img imgrecipe.Image|imgrecipe.DiskRoot
function Disk:copy_os_from(img)
  validate("img", img, "table")
  if not self._map then util.raise("usage", "the disk is not mounted: call disk:mount{...} first") end
  if type(img._root) ~= "function" then util.raise("usage", "img: expected an Image") end
  if getmetatable(img) == image.Image and not img._mnt then img:mount({ read_only = true }) end
  local ok, err = pcall(storage.copy_os, img:_root(), self._map)
  if ok then return end
  -- A full filesystem of the layout (target: its mount path): name the partition.
  if type(err) == "table" and err.op == "copy OS tree" and err.target then
    for _, m in ipairs(self:mounts()) do
      for _, p in ipairs(self:partitions()) do
        if m.target == err.target and p.device == m.device then
          err.message = string.format("partition '%s' is too small for the OS: %s", p.id, err.message)
        end
      end
    end
  end
  error(err, 0)
end

---@class imgrecipe.FstabEntry
---@field partition integer|string partition number or id
---@field mount_point? string default: where Disk:mount mounted it
---@field id_type? string "part-uuid" (default), "uuid" or "part-label"
---@field options? string fstab options (default "defaults")
---@field subvolume? string btrfs subvolume (adds subvol=)
---@field type? string default: the filesystem made by Disk:format (or "swap")

---@class imgrecipe.FstabOpts
---@field id_type? string default id type of every entry
---@field entries? imgrecipe.FstabEntry[] default: one entry per mounted partition

--- The fstab text of the layout (docs/disks.md "fstab from a layout"):
--- sorted by mount path, pass 1 for / and 2 for the rest.
---@param opts? imgrecipe.FstabOpts
---@return string
function Disk:fstab_text(opts)
  util.check_options("disk:fstab_text", opts, { "id_type", "entries" })
  validate("opts", opts, "table", true)
  opts = opts or {}
  if not self.table_info then util.raise("usage", "the disk has no partition table: call disk:partition{} first") end
  local entries = opts.entries
  if entries == nil then
    entries = {}
    for _, m in ipairs(self:mounts()) do
      for _, p in ipairs(self.table_info.partitions) do
        if self._wd:partition_device(p.number) == m.device then
          entries[#entries + 1] = { partition = p.number, mount_point = m.target,
                                    options = self._mount_options[m.target] }
        end
      end
    end
  end
  validate("opts.entries", entries, "table")
  local specs = {}
  for i, e in ipairs(entries) do
    local name = string.format("opts.entries[%d]", i)
    validate(name, e, "table")
    local number = self:_number(e.partition, name .. ".partition")
    local part
    for _, p in ipairs(self.table_info.partitions) do if p.number == number then part = p end end
    if not part then util.raise("usage", string.format("%s.partition: the disk has no partition %d", name, number)) end
    local fs = self._fs[number] or (self._wd and storage.probe(self._wd, number)) or {}
    specs[i] = {
      id = part.id, mount_point = e.mount_point, type = e.type or fs.type,
      id_type = e.id_type or opts.id_type, fs_uuid = fs.uuid, part_uuid = part.uuid, part_label = part.label,
      options = e.options, subvolume = e.subvolume,
    }
    if not specs[i].type or specs[i].type == "" then
      util.raise("usage", string.format("%s: partition %d has no filesystem (format it or give type)", name, number))
    end
    if specs[i].fs_uuid == "" then specs[i].fs_uuid = nil end
    if specs[i].part_label == "" then specs[i].part_label = nil end
  end
  return storage.fstab(specs)
end

--- Writes /etc/fstab of the mounted layout from `Disk:fstab_text(opts)`.
---@param opts? imgrecipe.FstabOpts
---@return string text the fstab written
function Disk:write_fstab(opts)
  util.check_options("disk:write_fstab", opts, { "id_type", "entries" })
  local text = self:fstab_text(opts)
  self:root():write_file("/etc/fstab", text)
  return text
end

--- Unmounts the layout in reverse order; changed staged FAT content is
--- written back into its partition.
function Disk:unmount()
  local m = self._map
  if m then
    self._map = nil
    m:release(true)
  end
end

--- Writes the disk in `format` (raw, qcow2, vhd, vhd-fixed, vhdx) to `path`,
--- atomically, after unmounting (FAT written back) and detaching it.
---@param path string
---@param format string
function Disk:save(path, format)
  validate("path", path, "string")
  validate("format", format, "string")
  format = host_image.parse_format(format)
  image.check_output(path, format, { input = self.path })
  self:unmount()
  self:detach()
  log.debug(string.format("saving disk as %s", format))
  host_image.write(self.path, path, format)
  require("imgrecipe.outputs").record(path, format)
end

--- Detaches the whole-disk device (after unmount).
function Disk:detach()
  local wd = self._wd
  if wd then
    wd:release()
    self._wd = nil
  end
end

--- Releases everything without writing: mounts (staged FAT discarded), the
--- loop device, and the disk file unless it was created with `keep`.
function Disk:release()
  local m = self._map
  self._map = nil
  if m then m:release(false) end
  self:detach()
  if self._file then
    local f = self._file
    self._file = nil
    f:release()
  end
end

M.Disk = Disk
M.DiskRoot = DiskRoot
return M
