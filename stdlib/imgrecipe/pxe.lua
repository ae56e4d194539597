--- PXE output (alic-reference §4.12): the files a TFTP/HTTP server needs to
--- network-boot a customized image, with either initramfs type:
---
--- - full-os (ALIC's default for PXE): the initramfs is the whole OS
---   (imgrecipe.fullos); the kernel unpacks it into memory and boots it. No
---   ISO, no URL, no dracut in the image.
--- - bootstrap: the LiveOS ISO (imgrecipe.liveos) is built as `image.iso` in
---   the tree, and the kernel boots a dracut initramfs with `livenet`, which
---   downloads that ISO (`root=live:<url>`) and boots its live root.
---
--- The tree (ALIC's names):
---
---     bootx64.efi            the TFTP boot file: the image's shim when it has one, else GRUB
---     grubx64.efi            GRUB with its network modules, prefix /boot/grub2 (shim loads it)
---     boot/grub2/grub.cfg    the menu entry: kernel, initrd (bootstrap: root=live:<url> ip=dhcp)
---     boot/vmlinuz-<v>, boot/initrd.img (full-os) or boot/initrd.img-<v> (bootstrap)
---     image.iso              bootstrap: the LiveOS ISO (or the basename of bootstrap_file_url),
---                            with the additional files too (as ALIC's)
---     <additional files>
---
--- The image is changed on the way (as imgrecipe.liveos): do not save it.
---
---     local pxe = require "imgrecipe.pxe"
---     img:packages({ install = { "dracut", "dracut-live", "dracut-network", "curl", "isc-dhcp-client",
---                                "iputils-arping", "procps", "iproute2" } })
---     pxe.build(img, ctx.params.output, { work_dir = ctx.work_dir .. "/pxe", format = "pxe-dir",
---                                         bootstrap_base_url = "http://10.0.2.2:8000" })
-- @module imgrecipe.pxe
local liveos = require "imgrecipe.liveos"
local grub = require "imgrecipe.grub"
local osrelease = require "imgrecipe.osrelease"
local host_iso = require "imgrecipe.host.iso"
local sys = require "imgrecipe.host.sys"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"

local validate = util.validate

local M = {}

--- ALIC's name of the bootstrap ISO in the tree.
M.ISO_NAME = "image.iso"
--- GRUB's directory in the tree (ALIC's: Azure Linux's GRUB prefix).
M.GRUB_DIR = "/boot/grub2"
--- URL schemes dracut's livenet (and ALIC) accept for the ISO.
M.URL_SCHEMES = { "ftp", "http", "https", "nfs", "tftp" }
-- GRUB modules the network loader needs on top of a media loader's.
local NET_MODULES = { "net", "efinet", "tftp", "http" }

local function check_url(field, url)
  local scheme = url:match("^(%a[%w+.-]*)://")
  local ok = false
  for _, s in ipairs(M.URL_SCHEMES) do ok = ok or scheme == s end
  if not ok then
    util.raise("usage", string.format("%s '%s': expected an ftp, http, https, nfs or tftp URL", field, url))
  end
  if url:find("[%s\"'\\$;`]") then
    util.raise("usage", string.format("%s '%s': no spaces, quotes, '\\', '$', ';' or '`' (it is a kernel argument)", field, url))
  end
end

--- The URL dracut downloads the ISO from, and the ISO's file name in the
--- tree: `bootstrap_file_url` (named after its last component), else
--- `bootstrap_base_url`/image.iso (ALIC's rules; both at once is an error).
---@param base_url? string
---@param file_url? string
---@return string url, string name
function M.bootstrap_url(base_url, file_url)
  validate("base_url", base_url, "string", true)
  validate("file_url", file_url, "string", true)
  if base_url == "" then base_url = nil end
  if file_url == "" then file_url = nil end
  if base_url and file_url then
    util.raise("usage", "pxe: bootstrapBaseUrl and bootstrapFileUrl cannot both be set")
  end
  if file_url then
    check_url("bootstrapFileUrl", file_url)
    local name = file_url:gsub("[?#].*$", ""):match("([^/]+)$")
    if not name or name == "" or name == "." or name == ".." or file_url:match("://[^/]*$") then
      util.raise("usage", string.format("bootstrapFileUrl '%s' names no file", file_url))
    end
    return file_url, name
  end
  if not base_url then
    util.raise("usage", "pxe: bootstrap PXE needs pxe.bootstrapBaseUrl or pxe.bootstrapFileUrl: the URL the "
      .. "booting machine downloads " .. M.ISO_NAME .. " from")
  end
  check_url("bootstrapBaseUrl", base_url)
  return base_url:gsub("/+$", "") .. "/" .. M.ISO_NAME, M.ISO_NAME
end

--- The kernel arguments of the PXE entry: the LiveOS ones with `root=`
--- pointing at the ISO's URL, then `ip=dhcp` (dracut's network; livenet
--- downloads the ISO with curl), then `args` (the image's own and the
--- extra ones).
---@param url string
---@param args string[]
---@return string[]
function M.boot_args(url, args)
  local out = liveos.live_args(liveos.VOLUME_ID)
  out[1] = "root=live:" .. url
  out[#out + 1] = "ip=dhcp"
  for _, a in ipairs(args) do out[#out + 1] = a end
  grub.check_kernel_args(out)
  return out
end

--- The tree's grub.cfg: one entry, no `search` (GRUB's root is the TFTP
--- server it was loaded from).
---@param spec {kernel: string, initrd: string, args: string[], title?: string}
---@return string
function M.grub_config(spec)
  util.check_options("pxe.grub_config", spec, { "kernel", "initrd", "args", "title" })
  local title = (spec.title or "Live system (PXE)"):gsub("[\"\\$`]", "")
  return table.concat({
    "# PXE boot, written by imgrecipe",
    "set default=0",
    "set timeout=1",
    'menuentry "' .. title .. '" {',
    "\tlinux\t" .. spec.kernel .. " " .. grub.quote_args(spec.args),
    "\tinitrd\t" .. spec.initrd,
    "}",
  }, "\n") .. "\n"
end

-- What dracut's livenet needs in the image, with the Debian package of
-- each. The network handler is network-legacy: in dracut 059 (Debian 12)
-- only its dhclient-script runs the netroot hook that starts livenet;
-- with systemd-networkd (dracut's default when the image has it) the
-- network comes up and the ISO is never fetched.
local NEEDS = {
  { module = "90livenet", what = "dracut's livenet module", package = "dracut-live" },
  { module = "40network", what = "dracut's network module", package = "dracut-network" },
  { module = "35network-legacy", what = "dracut's network-legacy module", package = "dracut-network" },
  { module = "45url-lib", what = "dracut's url-lib module", package = "dracut-network" },
  { tools = { "curl" }, what = "curl", package = "curl" },
  { tools = { "dhclient" }, what = "dhclient", package = "isc-dhcp-client" },
  { tools = { "arping", "arping2" }, what = "arping", package = "iputils-arping" },
  { tools = { "pgrep" }, what = "pgrep", package = "procps" },
  { tools = { "ip" }, what = "ip", package = "iproute2" },
}
--- The dracut modules the PXE initramfs adds to the live one.
M.DRACUT_MODULES = { "livenet", "network-legacy" }

--- Where images keep shim (liveos.SHIM_PATHS; the same list).
M.SHIM_PATHS = liveos.SHIM_PATHS

--- The image's shim (x86_64), or nil: liveos.find_shim (one search for the
--- ISO's EFI image and the PXE tree).
M.find_shim = liveos.find_shim

local function has_tool(root, names)
  for _, name in ipairs(names) do
    for _, d in ipairs({ "/usr/bin", "/usr/sbin", "/bin", "/sbin" }) do
      if root:exists(d .. "/" .. name) then return true end
    end
  end
  return false
end

--- Fails, naming what is missing and the packages to install, unless the
--- image's dracut can build a network-booting live initramfs: dmsquash-live,
--- livenet (Debian: dracut-live), network, network-legacy and url-lib
--- (dracut-network), and the tools they run: curl (downloads the ISO),
--- dhclient, arping, pgrep, ip.
---@param root imgrecipe.Image|imgrecipe.DiskRoot
function M.check_dracut(root)
  liveos.check_dracut(root)
  local missing, packages, seen = {}, {}, {}
  for _, n in ipairs(NEEDS) do
    local ok
    if n.module then ok = liveos.has_dracut_module(root, n.module) else ok = has_tool(root, n.tools) end
    if not ok then
      missing[#missing + 1] = n.what
      if not seen[n.package] then packages[#packages + 1] = n.package; seen[n.package] = true end
    end
  end
  if #missing > 0 then
    util.raise("config", string.format("PXE bootstrap: the image has no %s, which the network-booting initramfs "
      .. "needs (dracut's livenet over network-legacy): install them in the image (os.packages.install; "
      .. "Debian/Ubuntu packages: %s)", table.concat(missing, ", "), table.concat(packages, ", ")))
  end
end

local copy_host = util.copy_host

local write_host = util.write_host

-- The tree is beside the output, the work files in the build directory:
-- possibly two filesystems.
local function move_host(from, to)
  if os.rename(from, to) then return end
  copy_host(from, to)
  os.remove(from)
end

--- Checks a PXE output before a build starts: pxe-dir must be missing or
--- an empty directory whose parent exists, pxe-tar a file path as any
--- image output (image.check_output).
---@param output string
---@param format string pxe-dir or pxe-tar
---@param input? string|string[] input image(s) the output must not replace
function M.check_output(output, format, input)
  validate("output", output, "string")
  if format == "pxe-dir" then
    host_iso.check_dir_output(output)
  elseif format == "pxe-tar" then
    require("imgrecipe.image").check_output(output, "raw", { input = input })
  else
    util.raise("usage", string.format("format: expected pxe-dir or pxe-tar, got '%s'", tostring(format)))
  end
end

-- The bootstrap ISO's files: an ISO input's own media files, then the
-- tree's (pxe.additionalFiles) at the same path under the ISO's root (ALIC
-- puts them on the ISO as well); a tree file replaces a media file.
local function bootstrap_iso_files(iso_files, files)
  local out, index = {}, {}
  for _, f in ipairs(iso_files or {}) do
    out[#out + 1] = f
    index[f.path] = #out
  end
  for _, f in ipairs(files or {}) do
    local path = "/" .. f.path:gsub("^/+", "")
    local copy = { source = f.source, content = f.content, permissions = f.permissions, path = path }
    if index[path] then out[index[path]] = copy else out[#out + 1] = copy; index[path] = #out end
  end
  return out
end

---@class imgrecipe.PxeOpts
---@field work_dir string host directory for the intermediate files (a build directory)
---@field format? string "pxe-dir" (default: a directory) or "pxe-tar" (the tree as .tar.gz)
---@field bootstrap_base_url? string the ISO is served at <url>/image.iso
---@field bootstrap_file_url? string or the ISO's full URL (the tree's ISO is named after it)
---@field extra_args? string[] kernel arguments (pxe.kernelCommandLine.extraCommandLine)
---@field files? imgrecipe.LiveFile[] more files in the tree (pxe.additionalFiles; `path` relative to its root), also on the bootstrap ISO
---@field iso_files? imgrecipe.LiveFile[] more files on the ISO
---@field saved_args? string[] arguments kept from an earlier ISO (ISO input), before extra_args
---@field image_args? string[] the image's own kernel arguments (default: from its grub.cfg)
---@field initramfs_type? string "full-os" (the default without a URL, as ALIC's) or "bootstrap" (the default with one)
---@field kdump_boot_files? string "keep" or "none" (liveos.build)
---@field selinux_mode? string the SELinux mode the config asked for: an enabled one is an error
---@field compression_level? integer zstd level of the squashfs
---@field timestamp? integer reproducible dates in the squashfs and the ISO
---@field input? string the input image (pxe-tar: the output must not be it)

--- Builds the PXE tree `output` (a directory, or a .tar.gz with format
--- pxe-tar) from a mounted, customized image, atomically: the tree is made
--- in a temporary directory beside the output and renamed (or archived)
--- only when complete. An existing output directory must be empty.
--- Returns liveos.build's result plus `{url=, args=}`.
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted read-write
---@param output string
---@param opts imgrecipe.PxeOpts
---@return table
function M.build(root, output, opts)
  util.check_options("pxe.build", opts,
    { "work_dir", "format", "bootstrap_base_url", "bootstrap_file_url", "extra_args", "files", "iso_files", "initramfs_type", "selinux_mode", "compression_level", "timestamp", "input", "image_args", "saved_args", "kdump_boot_files" })
  util.check_option_list("pxe.build", "files", opts and opts.files, { "source", "content", "path", "permissions" })
  util.check_option_list("pxe.build", "iso_files", opts and opts.iso_files, { "source", "content", "path", "permissions" })
  validate("root", root, "table")
  validate("output", output, "string")
  validate("opts", opts, "table")
  validate("opts.work_dir", opts.work_dir, "string")
  validate("opts.extra_args", opts.extra_args, "table", true)
  validate("opts.files", opts.files, "table", true)
  local format = opts.format or "pxe-dir"
  if format ~= "pxe-dir" and format ~= "pxe-tar" then
    util.raise("usage", string.format("format: expected pxe-dir or pxe-tar, got '%s'", tostring(format)))
  end
  local has_url = (opts.bootstrap_base_url or "") ~= "" or (opts.bootstrap_file_url or "") ~= ""
  local initramfs_type = opts.initramfs_type or (has_url and "bootstrap" or "full-os")
  if initramfs_type ~= "bootstrap" and initramfs_type ~= "full-os" then
    util.raise("usage", string.format("initramfs_type: expected bootstrap or full-os, got '%s'", tostring(initramfs_type)))
  end
  local full = initramfs_type == "full-os"
  if full and has_url then
    util.raise("usage", "pxe: 'bootstrapBaseUrl' and 'bootstrapFileUrl' cannot be used with initramfsType 'full-os' "
      .. "(the full-os initramfs is the whole OS: nothing is downloaded)")
  end
  local url, iso_name
  if not full then url, iso_name = M.bootstrap_url(opts.bootstrap_base_url, opts.bootstrap_file_url) end
  for i, f in ipairs(opts.files or {}) do
    validate(string.format("opts.files[%d].path", i), f.path, "string")
    local rel = f.path:gsub("^/+", "")
    for part in rel:gmatch("[^/]+") do
      if part == "." or part == ".." then
        util.raise("usage", string.format("PXE additional file %s: '.' and '..' are not allowed", f.path))
      end
    end
    if rel == "" or rel == (iso_name or M.ISO_NAME) or rel == "bootx64.efi" or rel == "grubx64.efi" or rel:match("^boot/") then
      util.raise("usage", string.format("PXE additional file %s: the path is one of the tree's own (%s, bootx64.efi, "
        .. "grubx64.efi, boot/)", f.path, iso_name or M.ISO_NAME))
    end
    -- bootstrap: the file also goes on the ISO, beside the live root.
    if not full and (rel:match("^" .. liveos.LIVE_DIR .. "/") or "/" .. rel == liveos.SAVED_CONFIGS) then
      util.raise("usage", string.format("PXE additional file %s: the path is one of the bootstrap ISO's own (%s/, %s)",
        f.path, liveos.LIVE_DIR, liveos.SAVED_CONFIGS))
    end
  end
  M.check_output(output, format, opts.input)
  -- Fail before the long steps.
  liveos.kernel(root)
  if not full then M.check_dracut(root) end

  local w = opts.work_dir
  sys.mkdir(w)
  -- pxe-dir: the tree is made beside the output and renamed into place;
  -- pxe-tar: in the build directory, then archived atomically.
  local staged = format == "pxe-dir" and host_iso.output_dir(output) or nil
  local tree = staged and staged:tmp() or w .. "/tree"
  local function mkdir_tree(rel)
    if staged then staged:mkdir(rel) else sys.mkdir(tree .. "/" .. rel) end
  end
  if not staged then sys.mkdir(tree) end

  -- bootstrap: the LiveOS ISO, straight into the tree; its initramfs also
  -- has livenet, so the same kernel and initramfs boot over the network.
  -- full-os: the media's pieces only (kernel, whole-OS initramfs).
  local live = liveos.build(root, full and w .. "/unused.iso" or tree .. "/" .. iso_name, {
    work_dir = w .. "/liveos", extra_args = opts.extra_args, files = bootstrap_iso_files(opts.iso_files, opts.files),
    iso = not full,
    saved_args = opts.saved_args, image_args = opts.image_args,
    initramfs_type = initramfs_type, selinux_mode = opts.selinux_mode,
    dracut_modules = not full and M.DRACUT_MODULES or nil, kdump_boot_files = opts.kdump_boot_files,
    compression_level = opts.compression_level, timestamp = opts.timestamp,
  })
  mkdir_tree(M.GRUB_DIR:sub(2))
  local kernel = "/boot/vmlinuz-" .. live.kernel
  local initrd = live.initrd_path
  move_host(live.kernel_file, tree .. kernel)
  -- A new file, not a rename: dracut makes the initramfs 0600, and TFTP
  -- servers do not read it as root.
  copy_host(live.initrd_file, tree .. initrd)
  os.remove(live.initrd_file)
  -- kdumpBootFiles none: the kdump files the media would carry.
  for _, name in ipairs(live.media_boot_files or {}) do
    copy_host(live.media .. "/boot/" .. name, tree .. "/boot/" .. name)
  end
  local args = full and live.args or M.boot_args(url, live.args)
  local vars = osrelease.read(root)
  write_host(tree .. M.GRUB_DIR .. "/grub.cfg", M.grub_config({
    kernel = kernel, initrd = initrd, args = args,
    title = (vars.PRETTY_NAME or vars.NAME or "Linux") .. " (PXE)",
  }))
  -- GRUB loaded over the network takes the TFTP server as its root, so
  -- `prefix` without a device finds grub.cfg in the tree.
  sys.mkdir(w .. "/efi")
  log.info("PXE EFI loader built by %s", liveos.efi_loader(root, w .. "/efi", nil, {
    path = w .. "/efi/bootx64.efi", prefix = M.GRUB_DIR, modules = NET_MODULES,
  }))
  -- ALIC's tree: bootx64.efi is the image's shim (which loads grubx64.efi
  -- from beside it) when the image has one, else the same GRUB.
  local shim = M.find_shim(root)
  if shim then
    liveos.copy_out(root, shim, w .. "/efi", "shim.efi")
    copy_host(w .. "/efi/shim.efi", tree .. "/bootx64.efi")
    log.info("PXE bootx64.efi: the image's shim %s (it loads grubx64.efi)", shim)
  else
    copy_host(w .. "/efi/bootx64.efi", tree .. "/bootx64.efi")
  end
  copy_host(w .. "/efi/bootx64.efi", tree .. "/grubx64.efi")

  -- pxe.additionalFiles, with their modes (liveos.stage_files).
  local staged_files = liveos.stage_files(opts.files, w .. "/files")
  for _, f in ipairs(staged_files) do
    local rel = f.path:gsub("^/+", "")
    if rel:find("/") then mkdir_tree(util.dirname(rel)) end
    copy_host(f.source, tree .. "/" .. rel)
    local mode = sys.mode(f.source)
    if staged then staged:chmod(rel, mode) else sys.chmod(tree .. "/" .. rel, mode) end
  end

  if staged then
    staged:commit()
    staged:release()
  else
    host_iso.tar_gz(tree, output)
  end
  if full then
    log.info("PXE %s %s: kernel %s, full-os initramfs, arguments: %s", format, output, live.kernel,
      table.concat(args, " "))
  else
    log.info("PXE %s %s: kernel %s, ISO %s at %s, arguments: %s", format, output, live.kernel, iso_name, url,
      table.concat(args, " "))
  end
  live.shim = shim
  live.url = url
  live.args = args
  live.iso_name = iso_name
  require("imgrecipe.outputs").record(output, format)
  return live
end

return M
