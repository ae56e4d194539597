--- The whole OS as the initramfs (`initramfsType: full-os`, alic-reference
--- §4.11 step 8): a mounted image written as one zstd-compressed cpio
--- archive (the kernel's initramfs format). The kernel unpacks it into its
--- in-memory root (tmpfs: no `root=` argument) and runs `/init`, which is
--- systemd; nothing is read from the boot media after that. No dracut is
--- involved, so the image needs no live packages; it does need systemd and
--- enough guest memory for the unpacked OS.
---
---     local fullos = require "imgrecipe.fullos"
---     fullos.initrd(img, work .. "/initrd.img", { keep_boot = { "/boot/vmlinuz-6.1.0-13-cloud-amd64" } })
-- @module imgrecipe.fullos
local host = require "imgrecipe.host.cpio"
local squashfs = require "imgrecipe.squashfs"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"

local validate = util.validate

local M = {}

--- What the kernel runs: systemd (added as /init when the image has no /init).
M.INIT = "/lib/systemd/systemd"
--- Left out of the archive: the API filesystems' mount points and scratch
--- directories are kept empty; /boot is handled by `boot_exclusions`.
M.EXCLUDE = { "/proc/*", "/sys/*", "/dev/*", "/run/*", "/tmp/*", "/var/tmp/*" }

-- A file name as a literal fnmatch / mksquashfs wildcard pattern.
local function literal(name)
  return (name:gsub("([%*%?%[%]\\])", "\\%1"))
end

--- The exclusion patterns that leave /boot empty in a live root except for
--- the paths in `keep` (e.g. the kdump kernel and initramfs of
--- `kdumpBootFiles: keep`). Patterns suit both squashfs.create and
--- fullos.initrd.
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted
---@param keep? string[] absolute paths directly under /boot
---@return string[]
function M.boot_exclusions(root, keep)
  local kept = {}
  for _, p in ipairs(keep or {}) do
    local name = p:match("^/boot/([^/]+)$")
    if not name then util.raise("usage", string.format("keep_boot %s: expected a path directly under /boot", p)) end
    kept[name] = true
  end
  if next(kept) == nil or not root:exists("/boot") then return { "/boot/*" } end
  local out = {}
  for _, name in ipairs(root:list_dir("/boot")) do
    if not kept[name] then out[#out + 1] = "/boot/" .. literal(name) end
  end
  return out
end

---@class imgrecipe.FullOsOpts
---@field keep_boot? string[] paths under /boot kept in the archive (everything else in /boot is left out)
---@field exclude? string[] more paths to leave out (wildcards, relative to /)
---@field level? integer zstd level 1..19 (default 3)
---@field timestamp? integer every entry's time (reproducible output)

--- Writes the mounted OS `root` as the initramfs `path` (atomically):
--- /boot emptied but for `keep_boot`, the API filesystems' mount points
--- empty, `/init` → /lib/systemd/systemd added when the image has no /init.
--- Fails (config) when the image has no systemd. Returns `{entries=, bytes=}`.
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted
---@param path string host file
---@param opts? imgrecipe.FullOsOpts
---@return {entries: integer, bytes: integer}
function M.initrd(root, path, opts)
  validate("root", root, "table")
  validate("path", path, "string")
  validate("opts", opts, "table", true)
  opts = opts or {}
  validate("opts.keep_boot", opts.keep_boot, "table", true)
  validate("opts.exclude", opts.exclude, "table", true)
  if not root:exists("/init") and not root:exists(M.INIT) then
    util.raise("config", string.format("full-os initramfs: the image has no %s (the kernel runs /init, which is "
      .. "systemd in a full-os initramfs): install systemd in the image (Debian: systemd-sysv)", M.INIT))
  end
  local exclude = {}
  for _, list in ipairs({ M.EXCLUDE, M.boot_exclusions(root, opts.keep_boot), opts.exclude or {} }) do
    for _, p in ipairs(list) do exclude[#exclude + 1] = p end
  end
  local stats = host.create(squashfs.tree_path(root), path, {
    level = opts.level, exclude = exclude, timestamp = opts.timestamp,
    add_symlinks = { "init=" .. M.INIT },
  })
  log.info("full-os initramfs %s: %d entries, %d MiB before compression", path, stats.entries,
    math.floor(stats.bytes / 1048576))
  return stats
end

--- Reads a full-os initramfs (as `M.initrd` writes it) back into the
--- mounted OS `root`, the inverse of `M.initrd`: every entry created inside
--- the root (names with `..` refused, absolute names and symlinked parents
--- resolved in the root), modes, owners, times, symlinks, hard links, device
--- nodes kept; an uncompressed cpio before the zstd one (early microcode) is
--- read too, other compressions are refused. The `/init` link `M.initrd`
--- adds is removed again (written back by `M.initrd` for a full-os output).
--- A malformed archive is a `config` error naming the byte offset. Returns
--- `{entries=, bytes=}`.
---@param path string host file (the initramfs)
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted read-write
---@return {entries: integer, bytes: integer}
function M.extract(path, root)
  validate("path", path, "string")
  validate("root", root, "table")
  local stats = host.extract(path, squashfs.tree_path(root))
  if root:readlink("/init") == M.INIT then root:remove("/init") end
  log.info("full-os initramfs %s extracted: %d entries, %d MiB", path, stats.entries,
    math.floor(stats.bytes / 1048576))
  return stats
end

--- Checks every header of a full-os initramfs without writing anything
--- (before a working disk is made for it). Returns `{entries=, bytes=}`,
--- bytes being the file contents' total (uncompressed).
---@param path string host file
---@return {entries: integer, bytes: integer}
function M.scan(path)
  validate("path", path, "string")
  return host.scan(path)
end

return M
