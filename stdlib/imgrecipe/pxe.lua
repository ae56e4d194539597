--- PXE output (alic-reference §4.12): the files a TFTP/HTTP server needs to
--- network-boot a customized image. Bootstrap (the only initramfs type so
--- far): the LiveOS ISO (imgrecipe.liveos) is built as `image.iso` in the
--- tree, and the kernel boots a dracut initramfs with `livenet`, which
--- downloads that ISO (`root=live:<url>`) and boots its live root.
---
--- The tree (ALIC's names):
---
---     bootx64.efi            the TFTP boot file: GRUB with its network modules, prefix /boot/grub2
---     grubx64.efi            the same GRUB (ALIC's tree has shim as bootx64.efi and GRUB here)
---     boot/grub2/grub.cfg    the menu entry: kernel, initrd, root=live:<url> ip=dhcp
---     boot/vmlinuz-<v>, boot/initrd.img-<v>
---     image.iso              the LiveOS ISO (or the basename of bootstrap_file_url)
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
    "\tlinux\t" .. spec.kernel .. " " .. table.concat(spec.args, " "),
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

local function copy_host(from, to)
  local src = assert(io.open(from, "rb"))
  local dst, err = io.open(to, "wb")
  if not dst then util.raise("system", "cannot write " .. to .. ": " .. tostring(err)) end
  while true do
    local chunk = src:read(1048576)
    if not chunk then break end
    dst:write(chunk)
  end
  src:close()
  dst:close()
end

local function write_host(path, text)
  local f, err = io.open(path, "w")
  if not f then util.raise("system", "cannot write " .. path .. ": " .. tostring(err)) end
  f:write(text)
  f:close()
end

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

---@class imgrecipe.PxeOpts
---@field work_dir string host directory for the intermediate files (a build directory)
---@field format? string "pxe-dir" (default: a directory) or "pxe-tar" (the tree as .tar.gz)
---@field bootstrap_base_url? string the ISO is served at <url>/image.iso
---@field bootstrap_file_url? string or the ISO's full URL (the tree's ISO is named after it)
---@field extra_args? string[] kernel arguments (pxe.kernelCommandLine.extraCommandLine)
---@field files? imgrecipe.LiveFile[] more files in the tree (pxe.additionalFiles; `path` relative to its root)
---@field iso_files? imgrecipe.LiveFile[] more files on the ISO
---@field initramfs_type? string "bootstrap" (default); "full-os" is not supported yet
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
    { "work_dir", "format", "bootstrap_base_url", "bootstrap_file_url", "extra_args", "files", "iso_files", "initramfs_type", "selinux_mode", "compression_level", "timestamp", "input" })
  util.check_option_list("pxe.build", "files", opts and opts.files, { "source", "content", "path" })
  util.check_option_list("pxe.build", "iso_files", opts and opts.iso_files, { "source", "content", "path" })
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
  local initramfs_type = opts.initramfs_type or "bootstrap"
  if initramfs_type == "full-os" then
    util.raise("unsupported", "PXE: initramfsType full-os is not supported yet (use bootstrap)")
  elseif initramfs_type ~= "bootstrap" then
    util.raise("usage", string.format("initramfs_type: expected bootstrap or full-os, got '%s'", tostring(initramfs_type)))
  end
  local url, iso_name = M.bootstrap_url(opts.bootstrap_base_url, opts.bootstrap_file_url)
  for i, f in ipairs(opts.files or {}) do
    validate(string.format("opts.files[%d].path", i), f.path, "string")
    local rel = f.path:gsub("^/+", "")
    for part in rel:gmatch("[^/]+") do
      if part == "." or part == ".." then
        util.raise("usage", string.format("PXE additional file %s: '.' and '..' are not allowed", f.path))
      end
    end
    if rel == "" or rel == iso_name or rel == "bootx64.efi" or rel == "grubx64.efi" or rel:match("^boot/") then
      util.raise("usage", string.format("PXE additional file %s: the path is one of the tree's own (%s, bootx64.efi, "
        .. "grubx64.efi, boot/)", f.path, iso_name))
    end
  end
  M.check_output(output, format, opts.input)
  -- Fail before the long steps.
  liveos.kernel(root)
  M.check_dracut(root)

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

  -- The LiveOS ISO, straight into the tree; its initramfs also has livenet,
  -- so the same kernel and initramfs boot over the network.
  local live = liveos.build(root, tree .. "/" .. iso_name, {
    work_dir = w .. "/liveos", extra_args = opts.extra_args, files = opts.iso_files,
    initramfs_type = initramfs_type, selinux_mode = opts.selinux_mode, dracut_modules = M.DRACUT_MODULES,
    compression_level = opts.compression_level, timestamp = opts.timestamp,
  })
  mkdir_tree(M.GRUB_DIR:sub(2))
  local kernel = "/boot/vmlinuz-" .. live.kernel
  local initrd = "/boot/initrd.img-" .. live.kernel
  move_host(live.kernel_file, tree .. kernel)
  -- A new file, not a rename: dracut makes the initramfs 0600, and TFTP
  -- servers do not read it as root.
  copy_host(live.initrd_file, tree .. initrd)
  os.remove(live.initrd_file)
  local args = M.boot_args(url, live.args)
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
  copy_host(w .. "/efi/bootx64.efi", tree .. "/bootx64.efi")
  copy_host(w .. "/efi/bootx64.efi", tree .. "/grubx64.efi")

  for i, f in ipairs(opts.files or {}) do
    local rel = f.path:gsub("^/+", "")
    local dest = tree .. "/" .. rel
    if rel:find("/") then mkdir_tree(util.dirname(rel)) end
    if f.content ~= nil then
      write_host(dest, f.content)
    else
      validate(string.format("opts.files[%d].source", i), f.source, "string")
      copy_host(f.source, dest)
    end
  end

  if staged then
    staged:commit()
    staged:release()
  else
    host_iso.tar_gz(tree, output)
  end
  log.info("PXE %s %s: kernel %s, ISO %s at %s, arguments: %s", format, output, live.kernel, iso_name, url,
    table.concat(args, " "))
  live.url = url
  live.args = args
  live.iso_name = iso_name
  return live
end

return M
