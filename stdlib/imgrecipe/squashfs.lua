--- squashfs images of an OS tree (the root of a live ISO, a payload) and
--- reading them back, with squashfs-tools: no kernel squashfs mount.
--- docs/iso.md.
---
---     local squashfs = require "imgrecipe.squashfs"
---     local img = ctx:open(ctx.params.input)
---     img:mount({ read_only = true })
---     squashfs.create(img, ctx.work_dir .. "/squashfs.img", { exclude = { "/boot/*" } })
-- @module imgrecipe.squashfs
local host = require "imgrecipe.host.squashfs"
local util = require "imgrecipe.util"

local validate = util.validate

local M = {}

--- The host directory of a mounted tree: an Image (mounted), a Disk or its
--- root (mounted), or a host directory path.
---@param target imgrecipe.Image|imgrecipe.Disk|imgrecipe.DiskRoot|string
---@return string
function M.tree_path(target)
  if type(target) == "string" then return target end
  local image = require "imgrecipe.image"
  local disk = require "imgrecipe.disk"
  local mt = getmetatable(target)
  if mt == image.Image then
    if not target._mnt then util.raise("usage", "the image is not mounted: call image:mount() first") end
    return target._mnt:root_path()
  elseif mt == disk.Disk then
    return target:root():_root()
  elseif mt == disk.DiskRoot then
    return target:_root()
  end
  util.raise("usage", "expected an Image, a Disk or a directory path, got " .. type(target))
end

---@class imgrecipe.SquashfsOpts
---@field compression? string gzip, lzo, lz4, xz or zstd (default zstd)
---@field level? integer compression level (zstd 1..22, gzip/lzo 1..9; default the compressor's)
---@field block_size? integer bytes, a power of two from 4096 to 1048576 (default 131072)
---@field xattrs? boolean keep extended attributes: security.*, user.*, trusted.* (default true)
---@field exclude? string[] paths to leave out, relative to the tree's root, with shell wildcards; "/proc/*" keeps /proc empty
---@field timestamp? integer reproducible: every file time and the filesystem time set to this (seconds since 1970)
---@field processors? integer compression threads (default: all CPUs)
---@field one_file_system? boolean do not descend into filesystems mounted below the root (default false: a mounted OS's /boot and ESP are included)
---@field all_root? boolean make every file owned by root
---@field durable? boolean fsync the image before it is renamed into place (default true; false for an intermediate in the build directory that a later step reads back, whose own output is made durable)

--- Makes the squashfs image `path` (atomically: nothing is left on error or
--- interruption) from a mounted Image or Disk, or a host directory.
---@param target imgrecipe.Image|imgrecipe.Disk|imgrecipe.DiskRoot|string
---@param path string output file
---@param opts? imgrecipe.SquashfsOpts
function M.create(target, path, opts)
  util.check_options("squashfs.create", opts,
    { "compression", "level", "block_size", "xattrs", "exclude", "timestamp", "processors", "one_file_system", "all_root",
      "durable" })
  validate("target", target, { "table", "string" })
  validate("path", path, "string")
  validate("opts", opts, "table", true)
  local image = require "imgrecipe.image"
  image.check_output(path, "raw", { input = getmetatable(target) == image.Image and target.input or nil })
  host.create(M.tree_path(target), path, opts or {})
end

---@class imgrecipe.SquashfsEntry
---@field path string "/" for the root, else "/etc/hostname"
---@field type string "-" file, "d" directory, "l" symlink, "c", "b", "p", "s"
---@field mode integer permission bits
---@field uid integer
---@field gid integer
---@field size integer
---@field link_target? string symbolic links
---@field mtime string "YYYY-MM-DD HH:MM" (UTC)

--- Lists a squashfs image (`unsquashfs -lln`).
---@param path string
---@return imgrecipe.SquashfsEntry[]
function M.list(path)
  validate("path", path, "string")
  return host.list(path)
end

---@class imgrecipe.SquashfsExtractOpts
---@field paths? string[] only these files or directories (each must exist)
---@field xattrs? boolean restore extended attributes (default true)
---@field processors? integer

--- Extracts a squashfs image into `dest`, a new directory (removed again on
--- error), with modes, owners and extended attributes.
---@param path string squashfs image
---@param dest string directory to create
---@param opts? imgrecipe.SquashfsExtractOpts
function M.extract(path, dest, opts)
  util.check_options("squashfs.extract", opts, { "paths", "xattrs", "processors" })
  validate("path", path, "string")
  validate("dest", dest, "string")
  validate("opts", opts, "table", true)
  host.extract(path, dest, opts or {})
end

return M
