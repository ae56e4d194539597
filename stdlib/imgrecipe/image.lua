--- Disk images: open an input image as a raw working copy, mount its OS,
--- change files, run commands inside it and write the output.
-- @module imgrecipe.image
local host_image = require "imgrecipe.host.image"
local host_mount = require "imgrecipe.host.mount"
local files = require "imgrecipe.host.files"
local exec = require "imgrecipe.host.exec"
local sys = require "imgrecipe.host.sys"
local log = require "imgrecipe.host.log"
local grub = require "imgrecipe.grub"
local util = require "imgrecipe.util"
local resolv = require "imgrecipe.resolv"
local history = require "imgrecipe.history"
local bootloader = require "imgrecipe.bootloader"
local selinux = require "imgrecipe.selinux"
local kernel = require "imgrecipe.kernel"

local validate = util.validate

---@class imgrecipe.Image
---@field input string path of the input image
---@field input_format string detected format of the input
---@field raw string the raw working copy inside the build directory
local Image = {}
Image.__index = Image

local M = {}

-- The format of an input image file, with errors naming it.
local function detect_input(path)
  local kind = sys.kind(path)
  if kind == nil then
    util.raise("usage", string.format("input image %s: it does not exist", path))
  elseif kind == "directory" then
    util.raise("usage", string.format("input image %s: it is a directory, not a disk image file", path))
  elseif kind ~= "file" then
    util.raise("usage", string.format("input image %s: it is not a regular file", path))
  end
  return host_image.detect(path)
end

---@class imgrecipe.OpenOpts
---@field output? string where the image will be saved
---@field output_format? string its format; "raw" makes the working copy the output's own temporary file

--- Opens an input image: detects its format from its content and converts it
--- once into a sparse raw working copy in `work_dir`. The input is never
--- written. When the output will be raw (`opts.output_format`), the working
--- copy is made directly as the output's temporary file beside
--- `opts.output`, and `save` to that path only fsyncs and renames it: one
--- full copy instead of two (removed if the run fails or is interrupted).
---@param path string input image (raw, qcow2, vhd, vhd-fixed, vhdx)
---@param work_dir string a directory in the build directory
---@param opts? imgrecipe.OpenOpts
---@return imgrecipe.Image
function M.open(path, work_dir, opts)
  util.check_options("image.open", opts, { "output", "output_format" })
  validate("path", path, "string")
  validate("work_dir", work_dir, "string")
  validate("opts", opts, "table", true)
  opts = opts or {}
  validate("opts.output", opts.output, "string", true)
  validate("opts.output_format", opts.output_format, "string", true)
  local fmt = detect_input(path)
  -- Only a directory made here is removed after the last save.
  local img = { input = path, input_format = fmt, work_dir = work_dir, _own_dir = sys.kind(work_dir) == nil }
  sys.mkdir(work_dir)
  if opts.output and opts.output_format and host_image.parse_format(opts.output_format) == "raw" then
    img.raw = host_image.output_working_copy(path, fmt, opts.output)
    img._output = opts.output
  else
    img.raw = work_dir .. "/image.raw"
    host_image.to_raw(path, fmt, img.raw)
  end
  return setmetatable(img, Image)
end

---@class imgrecipe.ConvertOpts
---@field scratch_dir? string a directory for the raw copy a VHD output of a disk that is not whole MiB needs (without it, such a conversion is refused)

--- Converts an image file to another format without changing the disk:
--- one qemu-img pass from the input (its format detected from its content,
--- opened read-only with the untrusted-input checks of `open`) straight into
--- the output's temporary file, fsynced and renamed into place; no working
--- copy. Only a VHD output of a disk whose size is not whole MiB goes through
--- a raw copy in `opts.scratch_dir`, grown to whole MiB as `save` does.
--- For cosi and baremetal-image use imgrecipe.cosi.write on an opened image.
---@param input string raw, qcow2, vhd, vhd-fixed or vhdx file
---@param output string
---@param format string raw, qcow2, vhd, vhd-fixed or vhdx
---@param opts? imgrecipe.ConvertOpts
function M.convert(input, output, format, opts)
  util.check_options("image.convert", opts, { "scratch_dir" })
  validate("input", input, "string")
  validate("output", output, "string")
  validate("format", format, "string")
  validate("opts", opts, "table", true)
  opts = opts or {}
  validate("opts.scratch_dir", opts.scratch_dir, "string", true)
  M.check_output(output, format, { input = input })
  if format == "cosi" or format == "baremetal-image" then
    util.raise("usage", string.format("image.convert writes disk image formats; a %s output is written by "
      .. "imgrecipe.cosi.write from an opened image", format))
  end
  local fmt = detect_input(input)
  host_image.convert(input, fmt, output, format, opts.scratch_dir or "")
  require("imgrecipe.outputs").record(output, format)
end

---@class imgrecipe.CheckOutputOpts
---@field input? string|string[] input image(s) the output must not replace

--- Checks an output path before a build starts: the format is known, the
--- path is not the input image (compared as files, so symlinks, hard links
--- and `..` spellings are caught), not a directory, and its directory exists
--- and is writable or can be created. Call it as soon as the paths are known,
--- so a bad output fails in a second instead of after the customization;
--- `Image:save` calls it too.
---@param path string
---@param format string raw, qcow2, vhd, vhd-fixed, vhdx, cosi or baremetal-image
---@param opts? imgrecipe.CheckOutputOpts
function M.check_output(path, format, opts)
  util.check_options("image.check_output", opts, { "input" })
  validate("path", path, "string")
  validate("format", format, "string")
  validate("opts", opts, "table", true)
  host_image.check_output(path, format, opts or {})
end

---@class imgrecipe.MountOpts
---@field read_only? boolean mount everything read-only (inspection)
---@field stage_fat? boolean stage FAT filesystems even where vfat can be mounted
---@field root_partition? integer root partition number (default: found from the image)
---@field verity_writable? boolean mount existing dm-verity data partitions writable (default read-only)

--- Mounts the image's OS: the root filesystem and everything its /etc/fstab
--- lists, under one directory. FAT filesystems (the ESP) work even where the
--- kernel cannot mount vfat.
---@param opts? imgrecipe.MountOpts
---@return imgrecipe.Image self
function Image:mount(opts)
  util.check_options("img:mount", opts, { "read_only", "stage_fat", "root_partition", "verity_writable" })
  validate("opts", opts, "table", true)
  if self._mnt then return self end
  if self._discarded then util.raise("usage", "the image was already saved for the last time") end
  if self._committed then
    util.raise("usage", "the image was saved as its raw output " .. self.raw .. " and cannot be mounted again")
  end
  -- Errors about the image's content name the input, not the working copy.
  local o = { input = self.input }
  for k, v in pairs(opts or {}) do o[k] = v end
  self._mnt = host_mount.os(self.raw, self.work_dir .. "/root", self.work_dir .. "/stage", o)
  self._read_only = o.read_only == true
  return self
end

--- The mounted filesystems: `{target=, source=, partition=, fstype=, staged=,
--- options=, read_only=, verity=}` (options: what selects the mounted content, btrfs `subvol=`, or "";
--- verity: the dm-verity device name when mounted from its data partition).
---@return table[]
function Image:mounts()
  return self:_root():mounts()
end

---@class imgrecipe.ExistingVerity
---@field name "root"|"usr" /dev/mapper/<name>
---@field data integer data partition number
---@field hash integer hash partition number (= data: inline)
---@field inline boolean
---@field root_hash string from roothash= / usrhash=
---@field data_id_type "part-uuid"|"uuid"|"part-label"
---@field hash_id_type "part-uuid"|"uuid"|"part-label"
---@field corruption "io-error"|"ignore"|"panic"|"restart"
---@field hash_signature_path? string
---@field hash_offset integer inline: where the tree starts
---@field data_size integer bytes hashed (from the superblock)
---@field hash_algorithm string
---@field cmdline_file string the grub.cfg the arguments were read from

--- The dm-verity devices the image already uses (fstab mounts them from
--- /dev/mapper/<name>; the kernel command line in grub.cfg names their
--- partitions). Their data partitions are mounted directly: read-only,
--- unless the image was mounted with `verity_writable` (then
--- `imgrecipe.verityboot.reinitialize` must make their trees again).
---@return imgrecipe.ExistingVerity[]
function Image:verity()
  return self:_root():verity()
end

function Image:_root()
  if not self._mnt then util.raise("usage", "the image is not mounted: call image:mount() first") end
  return self._mnt
end

local function release(img, write_back)
  local m = img._mnt
  if m then
    img._mnt = nil
    m:release(write_back)
  end
end

--- Unmounts the OS. Changes to staged FAT filesystems are written back.
function Image:unmount() release(self, true) end

---@class imgrecipe.FileOpts
---@field mode? string|integer permission bits, e.g. "0600"

--- Writes a file inside the image (parents created, symlinks resolved inside
--- the image).
---@param path string absolute path in the image
---@param content string
---@param opts? imgrecipe.FileOpts
function Image:write_file(path, content, opts)
  util.check_options("img:write_file", opts, { "mode" })
  validate("path", path, "string")
  validate("content", content, "string")
  files.write(self:_root(), path, content, opts)
end

--- Copies a host file into the image. Without a mode, the source's is kept.
---@param source string host path
---@param path string absolute path in the image
---@param opts? imgrecipe.FileOpts
function Image:copy_file(source, path, opts)
  util.check_options("img:copy_file", opts, { "mode" })
  validate("source", source, "string")
  validate("path", path, "string")
  files.copy(self:_root(), source, path, opts)
end

--- Reads a file of the image; nil if it does not exist.
---@param path string
---@return string|nil
function Image:read_file(path)
  return files.read(self:_root(), path)
end

--- Whether a path exists in the image (a dangling symlink exists).
---@param path string
---@return boolean
function Image:exists(path)
  return files.exists(self:_root(), path)
end

--- `{type=, mode=, uid=, gid=, size=}` of a path (the leaf is not followed).
---@param path string
---@return table|nil
function Image:stat(path)
  return files.stat(self:_root(), path)
end

--- Names in a directory of the image (unsorted), or nil if it is missing.
---@param path string
---@return string[]|nil
function Image:list_dir(path)
  return files.list(self:_root(), path)
end

--- Creates a directory and its parents.
---@param path string
---@param opts? imgrecipe.FileOpts
function Image:mkdir(path, opts)
  util.check_options("img:mkdir", opts, { "mode" })
  files.mkdir(self:_root(), path, opts)
end

--- Changes permission bits.
---@param path string
---@param mode string|integer
function Image:chmod(path, mode)
  files.chmod(self:_root(), path, { mode = mode })
end

--- Changes ownership (numeric ids).
---@param path string
---@param uid integer
---@param gid integer
function Image:chown(path, uid, gid)
  files.chown(self:_root(), path, uid, gid)
end

--- Removes a file, symlink or empty directory.
---@param path string
function Image:remove(path)
  files.remove(self:_root(), path)
end

--- Creates a symlink at `path` pointing to `target`.
---@param target string
---@param path string
function Image:symlink(target, path)
  files.symlink(self:_root(), target, path)
end

--- Target of a symlink, or nil.
---@param path string
---@return string|nil
function Image:readlink(path)
  return files.readlink(self:_root(), path)
end

---@class imgrecipe.RunOpts
---@field step? string name shown on output lines
---@field env? table<string,string> extra environment
---@field binds? table[] `{host=, image=, read_only=true}` directories made visible for the run
---@field cwd? string working directory in the image (default "/")
---@field stdin? string data for the command's standard input
---@field check? boolean raise on a non-zero exit (default true)
---@field quiet? boolean log output at debug level only
---@field secret? boolean never log the arguments

--- Runs a command inside the image, in a sandbox (docs/security.md): its own
--- mount (pivot_root), PID, UTS and IPC namespaces, host-affecting
--- capabilities dropped, /dev, /proc, /sys and /run, a clean environment,
--- working DNS and no service starts. A string runs through /bin/sh -c.
---@param command string|string[]
---@param opts? imgrecipe.RunOpts
---@return {exit_code: integer, output: string[]}
function Image:run(command, opts)
  util.check_options("img:run", opts,
    { "step", "env", "binds", "cwd", "stdin", "check", "quiet", "secret", "network" })
  util.check_option_list("img:run", "binds", opts and opts.binds, { "host", "image", "read_only", "recursive" })
  validate("command", command, { "string", "table" })
  validate("opts", opts, "table", true)
  if type(command) == "string" then command = { "/bin/sh", "-c", command } end
  return exec.chroot(self:_root(), command, opts)
end

---@class imgrecipe.ScriptSpec
---@field path? string host file (relative to `base_dir`)
---@field content? string inline script
---@field interpreter? string default /bin/sh
---@field arguments? string[]
---@field env? table<string,string>
---@field name? string shown in logs
---@field network? boolean put the host's DNS config in place for the run (default true)

--- Runs a script inside the image. A `path` script must live under
--- `base_dir`, which is made visible read-only at /_imageconfigs (as ALIC
--- does); a `content` script is written to the image's /tmp and removed.
---@param spec imgrecipe.ScriptSpec
---@param base_dir string directory the script path is relative to
---@return {exit_code: integer, output: string[]}
function Image:run_script(spec, base_dir)
  util.check_options("img:run_script", spec,
    { "path", "content", "interpreter", "arguments", "env", "name", "network" })
  validate("spec", spec, "table")
  if self._mnt and self._read_only then
    -- Said before a content script is written (a bare EROFS otherwise).
    util.raise("usage", "cannot run a script in the image: it is mounted read-only (read_only = true is for "
      .. "inspection); mount it writable to run scripts")
  end
  local interpreter = spec.interpreter or "/bin/sh"
  local argv = { interpreter }
  local binds, temp = {}, nil
  if spec.path then
    validate("base_dir", base_dir, "string")
    local host_path = util.join(base_dir, spec.path)
    if sys.kind(host_path) ~= "file" then
      util.raise("usage", string.format("script '%s' not found (looked for %s)", spec.path, host_path))
    end
    binds[1] = { host = base_dir, image = "/_imageconfigs", read_only = true }
    argv[#argv + 1] = "/_imageconfigs/" .. spec.path:gsub("^%./", "")
  elseif spec.content then
    temp = string.format("/tmp/imgrecipe-script-%d-%d", sys.pid(), math.random(1, 1e9))
    self:write_file(temp, spec.content, { mode = "0700" })
    argv[#argv + 1] = temp
  else
    util.raise("usage", "script needs a path or content")
  end
  for _, a in ipairs(spec.arguments or {}) do argv[#argv + 1] = a end
  local ok, result = pcall(exec.chroot, self:_root(), argv,
    { env = spec.env, binds = binds, cwd = "/", network = spec.network ~= false })
  if temp then files.remove(self:_root(), temp) end
  if not ok then error(result, 0) end
  return result
end

--- Sets the hostname (/etc/hostname).
---@param name string
function Image:set_hostname(name)
  validate("name", name, "string")
  self:write_file("/etc/hostname", name .. "\n")
end

--- Appends kernel arguments to every boot entry of the image's GRUB
--- configuration (generated or hand-written, in /boot/grub or /boot/grub2),
--- and to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub so a later
--- grub-mkconfig keeps them.
---@param args string[]
---@return string[] files the grub.cfg files that were changed
function Image:append_kernel_args(args)
  validate("args", args, "table")
  if #args == 0 then return {} end
  local changed = grub.edit_configs(self, function(text) return grub.append_kernel_args(text, args) end, "usage")
  local defaults = self:read_file("/etc/default/grub")
  if defaults then
    self:write_file("/etc/default/grub", grub.append_default_var(defaults, "GRUB_CMDLINE_LINUX_DEFAULT", args))
  end
  log.info("kernel arguments appended in " .. table.concat(changed, ", ") .. ": " .. table.concat(args, " "))
  return changed
end

-- Boot and system configuration: thin delegations, see the modules.

--- Puts the host's resolv.conf in place for the whole customization (see imgrecipe.resolv).
function Image:override_resolv_conf() return resolv.override(self) end
--- Restores what override_resolv_conf saved (see imgrecipe.resolv).
---@param saved table what override_resolv_conf returned
function Image:restore_resolv_conf(saved) return resolv.restore(self, saved) end
--- Writes /etc/image-customizer-release (see imgrecipe.history).
---@param info imgrecipe.BuildInfo
function Image:write_release_file(info) return history.write_release(self, info) end
--- Appends an entry to /usr/share/image-customizer/history.json (see imgrecipe.history).
---@param info imgrecipe.BuildInfo
---@param config_record table the config as history.config_record returns it
function Image:append_history(info, config_record) return history.append(self, info, config_record) end
--- Regenerates /etc/default/grub and grub.cfg from scratch (see imgrecipe.bootloader).
--- Hard reset of the boot configuration (bootloader.hard_reset). Unlike the
--- YAML `resetType: hard-reset` (ALIC's semantics), the arguments already in
--- the image's /etc/default/grub are kept unless `keep_args = false`.
---@param opts? imgrecipe.HardResetOpts
---@return string config the regenerated grub.cfg path
function Image:reset_bootloader(opts)
  util.check_options("img:reset_bootloader", opts, { "extra_args", "selinux_mode", "keep_args" })
  validate("opts", opts, "table", true)
  local o = { keep_args = true }
  for k, v in pairs(opts or {}) do o[k] = v end
  return bootloader.hard_reset(self, o)
end
--- The image's current SELinux mode (see imgrecipe.selinux).
function Image:selinux_mode() return selinux.current_mode(self) end
--- Sets the SELinux mode in the kernel arguments and /etc/selinux/config (see imgrecipe.selinux).
---@param mode "disabled"|"permissive"|"enforcing"|"force-enforcing"
---@param opts? {boot_args: boolean}
function Image:set_selinux_mode(mode, opts)
  util.check_options("img:set_selinux_mode", opts, { "boot_args" })
  return selinux.set_mode(self, mode, opts)
end
--- Labels the writable filesystems with the image's setfiles (see imgrecipe.selinux).
function Image:selinux_relabel() return selinux.relabel(self) end
--- Fails unless a kernel is installed (see imgrecipe.kernel).
function Image:check_kernel() return kernel.check_installed(self) end

---@class imgrecipe.SaveOpts
---@field last? boolean the image's last use: its working directory is removed while the output is synced

--- Writes the image in `format` (raw, qcow2, vhd, vhd-fixed, vhdx) to
--- `path`, atomically: the file appears only when complete. Unmounts first,
--- writing staged FAT changes back. A raw save to the output named at open
--- renames the working copy into place. With `opts.last`, the image cannot be
--- used afterwards.
---@param path string
---@param format string
---@param opts? imgrecipe.SaveOpts
function Image:save(path, format, opts)
  util.check_options("img:save", opts, { "last" })
  validate("path", path, "string")
  validate("format", format, "string")
  validate("opts", opts, "table", true)
  if self._discarded then util.raise("usage", "the image was already saved for the last time") end
  if format == "cosi" or format == "baremetal-image" then
    util.raise("usage", string.format("img:save writes disk image formats; a %s output is written by "
      .. "imgrecipe.cosi.write(img, path, {format = \"%s\"})", format, format))
  end
  format = host_image.parse_format(format)
  M.check_output(path, format, { input = self.input })
  self:unmount()
  log.debug(string.format("saving as %s", format))
  if self._output and not self._committed and format == "raw" and path == self._output then
    host_image.commit_output(self.raw, path)
    -- The working copy is now the output: later saves read it, nothing writes it.
    self.raw, self._committed = path, true
  else
    local last = not self._committed and opts ~= nil and opts.last == true
    host_image.write(self.raw, path, format, last and self._own_dir and self.work_dir or nil)
  end
  if opts and opts.last then self._discarded = true end
  require("imgrecipe.outputs").record(path, format)
end

--- Releases the image without writing anything (mounts, loop devices).
function Image:close() release(self, false) end

-- Accounts, services, kernel modules and directory trees (imgrecipe.users,
-- imgrecipe.services, imgrecipe.kmodules, imgrecipe.dirs).
local users = require "imgrecipe.users"
local services = require "imgrecipe.services"
local kmodules = require "imgrecipe.kmodules"
local dirs = require "imgrecipe.dirs"

--- Adds a group unless it exists (see imgrecipe.users.add_group).
---@param spec imgrecipe.GroupSpec
---@return boolean added
function Image:add_group(spec)
  util.check_options("img:add_group", spec, { "name", "gid" })
  return users.add_group(self, spec)
end

--- Adds or updates a user (see imgrecipe.users.add_user).
---@param spec imgrecipe.UserSpec
---@param base_dir? string directory password and key files are relative to
---@return boolean added
function Image:add_user(spec, base_dir)
  util.check_options("img:add_user", spec, { "name", "uid", "password", "password_expires_days", "ssh_public_keys", "ssh_public_key_paths", "primary_group", "secondary_groups", "startup_command", "home_directory" })
  return users.add_user(self, spec, base_dir)
end

--- `systemctl enable` of a unit, offline.
---@param unit string
function Image:enable_service(unit) return services.enable(self, unit) end

--- `systemctl disable` of a unit, offline; the unit must exist.
---@param unit string
function Image:disable_service(unit) return services.disable(self, unit) end

--- Kernel module settings (see imgrecipe.kmodules.configure).
---@param list imgrecipe.ModuleSpec[]
function Image:configure_modules(list) return kmodules.configure(self, list) end

--- Copies a host directory tree into the image (see imgrecipe.dirs.copy_dir).
---@param source string host directory
---@param dest string absolute path in the image
---@param opts? imgrecipe.CopyDirOpts
function Image:copy_dir(source, dest, opts)
  util.check_options("img:copy_dir", opts, { "new_dir_mode", "merged_dir_mode", "file_mode" })
  return dirs.copy_dir(self, source, dest, opts)
end

-- Packages (imgrecipe.packages).
local packages = require "imgrecipe.packages"

--- One ordered package transaction (see imgrecipe.packages.transaction).
---@param spec imgrecipe.PackagesSpec
---@return string manager
function Image:packages(spec)
  util.check_options("img:packages", spec, { "remove", "update_existing", "install", "update", "sources", "disable_base_repos", "manager", "releasever" })
  return packages.transaction(self, spec)
end

--- Removes the package manager and its databases (see imgrecipe.packages.remove_manager).
---@param opts? {manager?: string}
---@return string[] removed
function Image:remove_package_manager(opts)
  util.check_options("img:remove_package_manager", opts, { "manager" })
  return packages.remove_manager(self, opts)
end

--- The image's package manager: "tdnf", "dnf" or "apt-get".
---@return string
function Image:package_manager() return packages.manager(self) end

--- Whether a package is installed in the image.
---@param name string
---@return boolean
function Image:package_installed(name) return packages.installed(self, name) end

M.Image = Image
return M
