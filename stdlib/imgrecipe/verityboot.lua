--- dm-verity at boot for a new disk layout (alic-reference §4.7): the
--- image's initramfs made able to open verity devices (dracut's
--- `systemd-veritysetup` module and the `dm-verity` driver), then, last of
--- all, the hash trees made and ALIC's kernel arguments written into grub.cfg
--- on the separate /boot partition, so nothing hashed changes afterwards.
---
---     local verityboot = require "imgrecipe.verityboot"
---     verityboot.prepare_initramfs(d:root())      -- while customizing
---     ...                                          -- everything else
---     local infos = verityboot.seal(d, { { name = "root", data = "root", hash = "roothash" } })
-- @module imgrecipe.verityboot
local verity = require "imgrecipe.verity"
local bootloader = require "imgrecipe.bootloader"
local grub = require "imgrecipe.grub"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"
local disk = require "imgrecipe.disk"
local host_storage = require "imgrecipe.host.storage"

local M = {}

local DRACUT_CONF = "/etc/dracut.conf.d/50-imgrecipe-verity.conf"
local VERITYSETUP = { "/usr/lib/systemd/systemd-veritysetup", "/lib/systemd/systemd-veritysetup" }
local DRACUT_BINS = { "/usr/bin/dracut", "/usr/sbin/dracut", "/bin/dracut", "/sbin/dracut" }
local DRACUT_MODULE_DIRS = { "/usr/lib/dracut/modules.d", "/lib/dracut/modules.d" }

local function first_existing(root, paths)
  for _, p in ipairs(paths) do
    if root:exists(p) then return p end
  end
end

local function has_dracut_module(root, name)
  for _, dir in ipairs(DRACUT_MODULE_DIRS) do
    for _, entry in ipairs(root:list_dir(dir) or {}) do
      -- "<two digits><name>", e.g. 01systemd-veritysetup
      if entry:match("^%d%d(.*)$") == name then return true end
    end
  end
  return false
end

-- Writes one of our dracut modules (name -> content) into `dir` in the
-- image: scripts executable, units 0644. Returns `dir`.
local function install_dracut_module(root, dir, files)
  root:mkdir(dir, { mode = "0755" })
  local names = {}
  for name in pairs(files) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    root:write_file(dir .. "/" .. name, files[name], { mode = name:match("%.sh$") and "0755" or "0644" })
  end
  return dir
end

-- Our dracut module for a signed root hash (ALIC adds its 90mountbootpartition
-- for the same purpose): systemd-veritysetup reads root-hash-signature=<path>
-- in the initramfs, so the boot filesystem named by pre.verity.mount=<UUID>
-- is mounted read-only at /boot there first, and unmounted when the unit
-- stops before switch-root: a read-only mount left behind keeps the
-- superblock read-only and the real system's /boot (rw) fails to mount
-- ("Can't mount, would change RO state"; seen in tests/boot/test_verity_signature.sh).
M.MOUNT_BOOT_MODULE = "imgrecipe-mountboot"
local MOUNT_BOOT_DIR = "/usr/lib/dracut/modules.d/90" .. M.MOUNT_BOOT_MODULE
local MOUNT_BOOT_FILES = {
  ["module-setup.sh"] = [[#!/bin/bash
# imgrecipe: mounts the boot filesystem (pre.verity.mount=<UUID>) read-only at
# /boot in the initramfs before systemd-veritysetup, which reads the root hash
# signature (systemd.verity_*_options=...,root-hash-signature=/boot/...) there.

check() {
    return 255  # only when asked for (add_dracutmodules)
}

depends() {
    echo systemd
}

install() {
    inst_multiple cat mkdir mount mountpoint sleep umount
    inst_script "$moddir/imgrecipe-mount-boot.sh" /usr/sbin/imgrecipe-mount-boot
    inst_simple "$moddir/imgrecipe-mount-boot.service" "$systemdsystemunitdir/imgrecipe-mount-boot.service"
    local name
    for name in root usr; do
        mkdir -p "$initdir$systemdsystemunitdir/systemd-veritysetup@$name.service.requires"
        ln_r "$systemdsystemunitdir/imgrecipe-mount-boot.service" \
            "$systemdsystemunitdir/systemd-veritysetup@$name.service.requires/imgrecipe-mount-boot.service"
    done
}
]],
  ["imgrecipe-mount-boot.service"] = [[[Unit]
Description=Mount the boot filesystem for the verity root hash signature (imgrecipe)
DefaultDependencies=no
ConditionKernelCommandLine=pre.verity.mount
After=systemd-udevd.service systemd-udev-trigger.service
Before=systemd-veritysetup@root.service systemd-veritysetup@usr.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/imgrecipe-mount-boot
ExecStop=/usr/sbin/imgrecipe-mount-boot stop
]],
  ["imgrecipe-mount-boot.sh"] = [[#!/bin/sh
# pre.verity.mount=<filesystem UUID>: wait for the device (60 s at most), then
# mount it read-only at /boot. "stop" (the unit's ExecStop, before switch-root):
# unmount it, so the real system can mount it read-write.
if [ "$1" = stop ]; then
    if mountpoint -q /boot; then exec umount /boot; fi
    exit 0
fi
uuid=
for arg in $(cat /proc/cmdline); do
    case $arg in pre.verity.mount=*) uuid=${arg#pre.verity.mount=} ;; esac
done
[ -n "$uuid" ] || exit 0
dev=/dev/disk/by-uuid/$uuid
tries=0
while [ ! -e "$dev" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 120 ]; then
        echo "imgrecipe-mount-boot: $dev (pre.verity.mount) did not appear" >&2
        exit 1
    fi
    sleep 0.5
done
mkdir -p /boot
mountpoint -q /boot || exec mount -o ro "$dev" /boot
]],
}

--- Installs imgrecipe's dracut module that mounts the boot filesystem
--- (`pre.verity.mount=<UUID>`) read-only at /boot in the initramfs before
--- systemd-veritysetup runs, so a root hash signature under /boot
--- (`root-hash-signature=`) can be read: `<modules.d>/90imgrecipe-mountboot`.
--- `prepare_initramfs` with `{signature = true}` calls it and adds the module.
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted
---@return string dir the module's directory in the image
function M.install_mount_boot_module(root)
  return install_dracut_module(root, MOUNT_BOOT_DIR, MOUNT_BOOT_FILES)
end

-- Our dracut module for inline verity on systemd-veritysetup without
-- hash-offset= (before systemd 254; Debian 12 has 252, which ignores the
-- option and then finds no superblock at the start of the data partition):
-- a generator reads ALIC's arguments from the kernel command line at boot
-- and, for a device whose options have hash-offset=, makes
-- systemd-veritysetup@<name>.service run veritysetup open --hash-offset=...
-- instead. Nothing of the hash is in the initramfs (the arguments are written
-- after hashing; reinitializeVerity hashes again).
M.INLINE_VERITY_MODULE = "imgrecipe-inlineverity"
local INLINE_VERITY_DIR = "/usr/lib/dracut/modules.d/90" .. M.INLINE_VERITY_MODULE
local VERITYSETUP_CLI = { "/usr/sbin/veritysetup", "/sbin/veritysetup" }
local INLINE_VERITY_FILES = {
  ["module-setup.sh"] = [==[#!/bin/bash
# imgrecipe: inline dm-verity (hash-offset= in systemd.verity_<name>_options)
# with a systemd-veritysetup that has no hash-offset= (before systemd 254).

check() {
    return 255  # only when asked for (add_dracutmodules)
}

depends() {
    echo systemd-veritysetup
}

install() {
    inst_multiple cat mkdir sed veritysetup
    inst_script "$moddir/imgrecipe-inline-verity-generator.sh" \
        "$systemdutildir/system-generators/imgrecipe-inline-verity-generator"
}
]==],
  ["imgrecipe-inline-verity-generator.sh"] = [==[#!/bin/sh
# imgrecipe: inline dm-verity on a systemd-veritysetup without hash-offset=
# (before systemd 254). For each verity device (root, usr) whose
# systemd.verity_<name>_options has hash-offset=, a drop-in makes
# systemd-veritysetup-generator's systemd-veritysetup@<name>.service run
# veritysetup open with --hash-offset and the other options instead.
# Everything comes from the kernel command line at boot (IMGRECIPE_PROC_CMDLINE:
# another file, for tests).
out=${1:-/run/systemd/generator}
cmdline=$(cat "${IMGRECIPE_PROC_CMDLINE:-/proc/cmdline}")
vs=
for p in /usr/sbin/veritysetup /sbin/veritysetup; do [ -x "$p" ] && { vs=$p; break; }; done

# As systemd's fstab_node_to_udev_node: TAG=value -> /dev/disk/by-tag/value ("/" escaped).
node() {
    case $1 in
        PARTUUID=*) t=by-partuuid; v=${1#PARTUUID=} ;;
        PARTLABEL=*) t=by-partlabel; v=${1#PARTLABEL=} ;;
        UUID=*) t=by-uuid; v=${1#UUID=} ;;
        LABEL=*) t=by-label; v=${1#LABEL=} ;;
        *) printf '%s' "$1"; return ;;
    esac
    printf '/dev/disk/%s/%s' "$t" "$(printf '%s' "$v" | sed 's|/|\\x2f|g')"
}
# A unit file argument: backslash and % doubled, double-quoted.
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/%/%%/g; s/"/\\"/g')"; }

enabled=yes
for arg in $cmdline; do
    case $arg in
        systemd.verity=0|systemd.verity=no|systemd.verity=false|rd.systemd.verity=0|rd.systemd.verity=no|rd.systemd.verity=false) enabled=no ;;
        systemd.verity=*|rd.systemd.verity=*) enabled=yes ;;
    esac
done
[ "$enabled" = yes ] || exit 0

for name in root usr; do
    hash= data= hashdev= options=
    for arg in $cmdline; do
        case $arg in
            "${name}hash="*) hash=${arg#"${name}hash="} ;;
            "systemd.verity_${name}_data="*) data=${arg#"systemd.verity_${name}_data="} ;;
            "systemd.verity_${name}_hash="*) hashdev=${arg#"systemd.verity_${name}_hash="} ;;
            "systemd.verity_${name}_options="*) options=${arg#"systemd.verity_${name}_options="} ;;
        esac
    done
    case ",$options," in *,hash-offset=*) ;; *) continue ;; esac
    if [ -z "$hash" ] || [ -z "$data" ] || [ -z "$hashdev" ]; then
        echo "imgrecipe-inline-verity-generator: $name: ${name}hash=, systemd.verity_${name}_data= and _hash= are needed" >&2
        continue
    fi
    if [ -z "$vs" ]; then
        echo "imgrecipe-inline-verity-generator: $name: no veritysetup in the initramfs" >&2
        exit 1
    fi
    flags=
    IFS=,
    for o in $options; do
        case $o in
            '') ;;
            ignore-corruption|restart-on-corruption|panic-on-corruption|ignore-zero-blocks|check-at-most-once|\
            hash-offset=*|data-block-size=*|hash-block-size=*|data-blocks=*|salt=*|uuid=*|hash=*|format=*|root-hash-signature=*|fec-device=*|fec-offset=*|fec-roots=*)
                flags="$flags $(quote "--$o")" ;;
            superblock=false|superblock=no|superblock=0) flags="$flags --no-superblock" ;;
            superblock=*) ;;
            *) echo "imgrecipe-inline-verity-generator: $name: unknown option '$o', ignoring" >&2 ;;
        esac
    done
    unset IFS
    dir=$out/systemd-veritysetup@$name.service.d
    mkdir -p "$dir"
    cat > "$dir/50-imgrecipe-inline-verity.conf" <<UNIT
# imgrecipe-inline-verity-generator: systemd.verity_${name}_options has hash-offset=
[Service]
ExecStart=
ExecStart=$vs open $(quote "$(node "$data")") $name $(quote "$(node "$hashdev")") $(quote "$hash")$flags
ExecStop=
ExecStop=$vs close $name
UNIT
done
exit 0
]==],
}

--- Installs imgrecipe's dracut module for inline verity on an image whose
--- systemd-veritysetup has no `hash-offset=` option (systemd < 254, Debian
--- 12): `<modules.d>/90imgrecipe-inlineverity`, a systemd generator in the
--- initramfs that reads `roothash=`/`usrhash=` and
--- `systemd.verity_<name>_{data,hash,options}` from the kernel command line
--- at boot and, for a device whose options have `hash-offset=`, replaces the
--- command of `systemd-veritysetup@<name>.service` by `veritysetup open`
--- with `--hash-offset` and the other options (`panic-on-corruption` ->
--- `--panic-on-corruption`, ...). The image needs veritysetup
--- (cryptsetup-bin). `prepare_initramfs` with `{inline = true}` calls it
--- and adds the module when the image's systemd-veritysetup needs it.
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted
---@return string dir the module's directory in the image
function M.install_inline_verity_module(root)
  return install_dracut_module(root, INLINE_VERITY_DIR, INLINE_VERITY_FILES)
end

--- Makes the image's initramfs open verity devices at boot: checks that the
--- image has dracut, its `systemd-veritysetup` module and systemd's
--- veritysetup generator (a `usage` error naming the packages otherwise),
--- adds the module and the `dm-verity` driver in dracut.conf.d, and
--- regenerates every initramfs with dracut.
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted
---@param opts? {inline?: boolean, signature?: boolean} inline: a device has its tree in its data partition (with a systemd-veritysetup before 254, the inline-verity module is installed and added: veritysetup needed); signature: a device has a root hash signature (the mount-boot module is installed and added)
---@return string dracut the dracut used
function M.prepare_initramfs(root, opts)
  util.check_options("verityboot.prepare_initramfs", opts, { "inline", "signature" })
  util.validate("opts", opts, "table", true)
  opts = opts or {}
  local dracut = first_existing(root, DRACUT_BINS)
  if not dracut then
    util.raise("usage", "verity: the image has no dracut, which builds an initramfs that opens verity devices at boot: "
      .. "install the 'dracut' package (os.packages.install: [dracut]; Fedora/Azure Linux: dracut)")
  end
  local veritysetup = first_existing(root, VERITYSETUP)
  if not veritysetup then
    util.raise("usage", "verity: the image has no systemd-veritysetup (" .. VERITYSETUP[1] .. "): install the package "
      .. "that ships it ('systemd' up to Debian 12, 'systemd-cryptsetup' from Debian 13; 'systemd-udev' or 'systemd' on Fedora/Azure Linux)")
  end
  if not has_dracut_module(root, "systemd-veritysetup") then
    util.raise("usage", "verity: the image's dracut has no 'systemd-veritysetup' module (modules.d/*systemd-veritysetup): "
      .. "install a dracut that has it (Debian: 'dracut' >= 057; Fedora/Azure Linux: 'dracut')")
  end
  -- Inline verity passes hash-offset= in systemd.verity_*_options, which
  -- systemd-veritysetup parses from systemd 254. Before (Debian 12: 252) it
  -- ignores the option and fails to load the superblock: our module opens
  -- such a device with veritysetup instead.
  local inline_module = opts.inline and not (root:read_file(veritysetup) or ""):find("hash-offset", 1, true)
  if inline_module and not first_existing(root, VERITYSETUP_CLI) then
    util.raise("usage", "verity: inline verity (the same partition for data and hash) with the image's "
      .. veritysetup .. ", which has no hash-offset= option (systemd < 254; Debian 12 has 252), is opened at boot "
      .. "by veritysetup in the initramfs, and the image has none (" .. VERITYSETUP_CLI[1] .. "): install "
      .. "'cryptsetup-bin' (os.packages.install: [cryptsetup-bin]), or a systemd >= 254")
  end
  local modules = "systemd-veritysetup"
  if opts.signature then
    M.install_mount_boot_module(root)
    modules = modules .. " " .. M.MOUNT_BOOT_MODULE
  end
  if inline_module then
    M.install_inline_verity_module(root)
    modules = modules .. " " .. M.INLINE_VERITY_MODULE
  end
  root:write_file(DRACUT_CONF, "# imgrecipe: open dm-verity devices at boot\n"
    .. "add_dracutmodules+=\" " .. modules .. " \"\nadd_drivers+=\" dm-verity \"\n", { mode = "0644" })
  root:run({ dracut, "--force", "--regenerate-all" }, { network = false })
  log.info("initramfs regenerated by %s with systemd-veritysetup and dm-verity", dracut)
  return dracut
end

local GRUB_VERITY_VARS = {
  -- ALIC's (Azure Linux's grub-mkconfig), then upstream's and Debian's name.
  { "GRUB_DISABLE_UUID", "true" },
  { "GRUB_DISABLE_LINUX_UUID", "true" },
  { "GRUB_DEVICE", "/dev/mapper/root" },
}

--- Root verity (alic-reference §4.7): sets `GRUB_DEVICE=/dev/mapper/root`
--- and turns off `root=UUID=` in /etc/default/grub, so a grub-mkconfig run
--- later in the image writes `root=/dev/mapper/root` (grub-probe would name
--- the data partition, which must not be mounted directly). Call it before
--- the root is hashed. Nothing is done when the image has no /etc/default/grub.
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted
---@return boolean written
function M.set_grub_device(root)
  local text = root:read_file(bootloader.DEFAULT_GRUB)
  if not text then return false end
  local out = {}
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    local keep = true
    for _, v in ipairs(GRUB_VERITY_VARS) do
      if line:match("^%s*" .. v[1] .. "=") then keep = false end
    end
    if keep then out[#out + 1] = line end
  end
  out[#out + 1] = "# imgrecipe: the root is a dm-verity device"
  for _, v in ipairs(GRUB_VERITY_VARS) do out[#out + 1] = v[1] .. "=" .. v[2] end
  root:write_file(bootloader.DEFAULT_GRUB, table.concat(out, "\n") .. "\n", { mode = "0644" })
  log.info("%s: GRUB_DEVICE=/dev/mapper/root", bootloader.DEFAULT_GRUB)
  return true
end

-- The partition (table entry) of each mount of `d`, with its options.
local function mounted(d)
  local by_device = {}
  for _, p in ipairs(d:partitions()) do by_device[p.device] = p end
  local out = {}
  for _, m in ipairs(d:mounts()) do
    local p = by_device[m.device]
    if p then out[#out + 1] = { path = m.target, part = p, options = m.options } end
  end
  return out
end

-- Arguments ALIC removes before writing new ones.
local OLD_ARGS = { "rd.systemd.verity", "roothash", "usrhash", "pre.verity.mount",
  "systemd.verity_root_data", "systemd.verity_root_hash", "systemd.verity_root_options",
  "systemd.verity_usr_data", "systemd.verity_usr_hash", "systemd.verity_usr_options" }

-- The arguments to remove: `root=` too only when a root device replaces it
-- (root=/dev/mapper/root). With /usr verity alone the image's root= must
-- stay: without it the initrd finds no root to mount.
local function old_args(has_root)
  if not has_root then return OLD_ARGS end
  local names = { "root" }
  for _, n in ipairs(OLD_ARGS) do names[#names + 1] = n end
  return names
end

---@class imgrecipe.VerityBootDevice: imgrecipe.VerityKernelDevice
---@field mount_point? string where the data filesystem is mounted ("/" for root, "/usr" for usr)

--- The last step of a verity layout. `d` is mounted with its layout and
--- separate /boot for root verity (grub.cfg must not be on hashed data;
--- with /usr verity alone, grub.cfg may stay on the writable root). Unmounts it, makes
--- each hash tree (`verity.format`), writes the kernel arguments
--- (`verity.kernel_args`, plus `root=/dev/mapper/root` for a root device)
--- into grub.cfg on the /boot partition alone, then mounts the layout again
--- with the verity filesystems read-only (for the output step). Returns the
--- `verity.format` results by device name and the arguments written.
---@param d imgrecipe.Disk
---@param devices imgrecipe.VerityBootDevice[]
---@return table<string, imgrecipe.VerityInfo> infos
---@return string[] args
function M.seal(d, devices)
  util.validate("devices", devices, "table")
  local layout = mounted(d)
  local has_root = false
  for _, v in ipairs(devices) do if v.name == "root" then has_root = true end end
  -- The partition holding grub.cfg: /boot, or (for /usr verity only) the
  -- writable root, where grub.cfg is at its full path.
  local boot, boot_options, prefix
  for _, m in ipairs(layout) do
    if m.path == "/boot" then boot, boot_options, prefix = m.part, m.options, "/boot" end
  end
  if not boot and not has_root then
    for _, m in ipairs(layout) do
      if m.path == "/" then boot, boot_options, prefix = m.part, m.options, "" end
    end
  end
  if not boot then
    util.raise("usage", "verity: /boot must be a separate writable partition (grub.cfg, which holds the root hash, cannot be on the hashed root)")
  end
  local grub_cfg = bootloader.layout(d:root()).config
  if grub_cfg:sub(1, 6) ~= "/boot/" then
    util.raise("usage", string.format("verity: grub.cfg (%s) is not under /boot", grub_cfg))
  end
  local ro = {}
  for _, v in ipairs(devices) do ro[d:_number(v.data, "data")] = true end
  for _, m in ipairs(layout) do
    if ro[m.part.number] and m.path ~= "/" and m.path ~= "/usr" then
      util.raise("usage", string.format("verity: partition '%s' is mounted at %s (expected / or /usr)", m.part.id or m.part.number, m.path))
    end
  end
  d:unmount()
  local infos = {}
  for _, v in ipairs(devices) do
    infos[v.name] = verity.format(d, v.data, v.hash)
    log.info("verity %s: root hash %s (%d bytes hashed%s)", v.name, infos[v.name].root_hash, infos[v.name].data_size,
      infos[v.name].inline and ", inline" or "")
  end
  -- A signed root hash: the initramfs mounts /boot (pre.verity.mount=) to read it.
  local boot_uuid
  for _, v in ipairs(devices) do
    if v.hash_signature_path then
      for _, m in ipairs(layout) do
        if m.path == "/boot" then boot_uuid = d:filesystem(m.part.number).uuid end
      end
    end
  end
  local args = verity.kernel_args(d, devices, { boot_uuid = boot_uuid })
  if has_root then args[#args + 1] = "root=/dev/mapper/root" end
  -- Only grub.cfg's partition is mounted to write it: the hashed filesystems stay untouched.
  local broot = d:mount({ ["/"] = { partition = boot.number, options = boot_options } })
  local ok, err = pcall(function()
    local path = prefix == "/boot" and grub_cfg:sub(6) or grub_cfg
    local text = broot:read_file(path)
    local new, lines = grub.replace_kernel_args(text, old_args(has_root), args)
    if lines == 0 then util.raise("usage", string.format("verity: %s has no kernel line", grub_cfg)) end
    broot:write_file(path, new)
    log.info("%s: %s", grub_cfg, table.concat(args, " "))
  end)
  d:unmount()
  if not ok then error(err, 0) end
  local map = {}
  for _, m in ipairs(layout) do
    local options = m.options
    if ro[m.part.number] then options = options and (options .. ",ro") or "ro" end
    map[m.path] = { partition = m.part.number, options = options }
  end
  d:mount(map)
  return infos, args
end

-- The partition table entry of partition number `n` of Disk `d`.
local function partition_of_disk(d, n)
  for _, p in ipairs(d:partitions()) do if p.number == n then return p end end
  util.raise("usage", string.format("disk has no partition %d", n))
end

-- The mount of `mounts` holding image path `file`, and the path inside it.
local function mount_holding(mounts, file)
  local best
  for _, m in ipairs(mounts) do
    local t = m.target
    if (t == "/" or file:sub(1, #t + 1) == t .. "/") and (not best or #t > #best.target) then best = m end
  end
  return best, best.target == "/" and file or file:sub(#best.target + 1)
end

--- `storage.reinitializeVerity: all` (alic-reference §4.7, existing-verity
--- images): `img` was mounted with `verity_writable` and customized. Unmounts
--- it, makes the hash tree of each of its writable verity devices
--- (`img:verity()`) again with the same layout (data size, inline hash
--- offset), then writes the root hashes (and the other arguments, as the
--- image had them) into the grub.cfg they were read from, on its partition
--- alone. Read-only devices keep their tree and root hash: for them only the
--- arguments are written again (after a boot loader reset regenerated
--- grub.cfg). Returns the `verity.format` results by device name and the
--- arguments written.
---@param img imgrecipe.Image mounted (with `{verity_writable = true}` to re-hash); its working copy in the build directory
---@param opts? {work_dir?: string} where the disk's mount points go (default `<img.work_dir>/verity-disk`)
---@return table<string, imgrecipe.VerityInfo> infos
---@return string[] args
function M.reinitialize(img, opts)
  util.validate("opts", opts, "table", true)
  opts = opts or {}
  local devices = img:verity()
  if #devices == 0 then return {}, {} end
  local mounts = img:mounts()
  local writable = {}
  for _, m in ipairs(mounts) do
    if m.verity and not m.read_only then writable[m.verity] = true end
  end
  local cfg_mount, cfg_path = mount_holding(mounts, devices[1].cmdline_file)
  if cfg_mount.verity then
    util.raise("usage", string.format("verity: %s is on the hashed '%s' filesystem and cannot hold its root hash",
      devices[1].cmdline_file, cfg_mount.verity))
  end
  local boot_part
  for _, m in ipairs(mounts) do if m.target == "/boot" then boot_part = m.partition end end
  img:unmount()
  local d = disk.open(img.raw, { work_dir = opts.work_dir or (img.work_dir .. "/verity-disk") })
  local ok, infos, args = pcall(function()
    local infos, specs, signed = {}, {}, false
    for i, v in ipairs(devices) do
      local hash = (not v.inline) and v.hash or nil
      local info = { root_hash = v.root_hash }
      if writable[v.name] then
        info = verity.format(d, v.data, hash, { data_size = v.data_size, hash_offset = v.inline and v.hash_offset or nil })
        log.info("verity %s: hash tree made again, root hash %s (was %s)", v.name, info.root_hash, v.root_hash)
      end
      infos[v.name] = info
      specs[i] = { name = v.name, data = v.data, hash = hash, root_hash = info.root_hash,
        data_id_type = v.data_id_type, hash_id_type = v.hash_id_type, corruption = v.corruption,
        hash_signature_path = v.hash_signature_path, hash_offset = v.inline and v.hash_offset or nil }
      signed = signed or v.hash_signature_path ~= nil
    end
    local boot_uuid = signed and boot_part and d:filesystem(boot_part).uuid or nil
    local args = verity.kernel_args(d, specs, { boot_uuid = boot_uuid })
    if infos.root then args[#args + 1] = "root=/dev/mapper/root" end
    local r = d:mount({ ["/"] = { partition = cfg_mount.partition } })
    local text = r:read_file(cfg_path)
    local new, lines = grub.replace_kernel_args(text, old_args(infos.root ~= nil), args)
    if lines == 0 then util.raise("usage", string.format("verity: %s has no kernel line", devices[1].cmdline_file)) end
    r:write_file(cfg_path, new)
    log.info("%s: %s", devices[1].cmdline_file, table.concat(args, " "))
    d:unmount()
    return infos, args
  end)
  d:release()
  if not ok then error(infos, 0) end
  return infos, args
end

---@class imgrecipe.VerityExistingSpec
---@field name "root"|"usr"
---@field data_label string GPT label (PARTLABEL) of the data partition (ALIC's dataDevice {idType: part-label})
---@field hash_label string GPT label of the empty hash partition (ALIC's hashDevice)
---@field data_id_type? "part-uuid"|"uuid"|"part-label"
---@field hash_id_type? "part-uuid"|"uuid"|"part-label"
---@field corruption? "io-error"|"ignore"|"panic"|"restart"
---@field hash_signature_path? string

-- The label of a partition table entry, "" when it has none.
local function label_of(p) return p.label or "" end

-- Refuses a hash partition too small for the hash tree of the data partition
-- (table entries: number, size in bytes, label), naming the bytes.
local function check_hash_room(name, data, hash)
  local need = verity.hash_size(data.size)
  if need > hash.size then
    util.raise("usage", string.format("verity %s: the hash partition '%s' (partition %d) is too small: the hash "
      .. "tree of the %d-byte data partition needs %d bytes, the partition has %d", name, label_of(hash),
      hash.number, data.size, need, hash.size))
  end
end

--- "Two-stage" verity (ALIC's dataDevice/hashDevice): verity added to
--- partitions the input image already has. Finds each partition by its GPT
--- label and checks ALIC's rules (alic-reference §5.2): the data partition
--- is mounted by the image's fstab at `/` (name root) or `/usr` (name usr),
--- the hash partition is not mounted, not used by verity already and
--- large enough for the hash tree (so that a build that cannot succeed fails
--- before the customization). The hash partition having no filesystem is
--- checked by `seal_existing`, before anything is written. Returns the
--- devices for `set_fstab` and `seal_existing` (partition numbers in `data`
--- and `hash`, `mount_point`).
---@param img imgrecipe.Image mounted
---@param specs imgrecipe.VerityExistingSpec[]
---@return imgrecipe.VerityBootDevice[]
function M.existing_partitions(img, specs)
  util.validate("specs", specs, "table")
  local tbl = host_storage.read_table(img.raw)
  local function find(label, what)
    for _, p in ipairs(tbl.partitions) do
      if label_of(p) == label then return p end
    end
    util.raise("usage", string.format("verity %s: partition not found (part-label=%s): the image has no partition with "
      .. "this GPT label", what, label))
  end
  local mounts = img:mounts()
  local function mount_of(n)
    for _, m in ipairs(mounts) do if m.partition == n then return m end end
  end
  local devices, used = {}, {}
  for i, v in ipairs(specs) do
    local where = string.format("specs[%d]", i)
    util.check_options("verityboot.existing_partitions", v,
      { "name", "data_label", "hash_label", "data_id_type", "hash_id_type", "corruption", "hash_signature_path" })
    util.validate(where .. ".name", v.name, "string")
    util.validate(where .. ".data_label", v.data_label, "string")
    util.validate(where .. ".hash_label", v.hash_label, "string")
    local want = v.name == "root" and "/" or v.name == "usr" and "/usr" or nil
    if not want then
      util.raise("usage", string.format("%s.name: '%s': verity devices are 'root' (/) or 'usr' (/usr)", where, v.name))
    end
    local data, hash = find(v.data_label, v.name .. " data"), find(v.hash_label, v.name .. " hash")
    if data.number == hash.number then
      util.raise("usage", string.format("verity %s: the data and hash partitions are the same (part-label=%s): "
        .. "two-stage verity needs a separate, empty hash partition", v.name, v.data_label))
    end
    for _, n in ipairs({ data.number, hash.number }) do
      if used[n] then
        util.raise("usage", string.format("verity %s: partition %d is used by verity '%s' already", v.name, n, used[n]))
      end
      used[n] = v.name
    end
    for _, e in ipairs(img:verity()) do
      if e.data == data.number or e.hash == data.number or e.data == hash.number or e.hash == hash.number then
        util.raise("usage", string.format("verity %s: partition %s is already used by the image's verity device '%s'",
          v.name, (e.data == data.number or e.hash == data.number) and v.data_label or v.hash_label, e.name))
      end
    end
    local m = mount_of(data.number)
    if not m then
      util.raise("usage", string.format("verity %s: the data partition (part-label=%s) has no entry in the image's "
        .. "/etc/fstab: it must be mounted at %s", v.name, v.data_label, want))
    end
    if m.target ~= want then
      util.raise("usage", string.format("verity %s: the data partition (part-label=%s) is mounted at %s; verity '%s' "
        .. "must be mounted at %s", v.name, v.data_label, m.target, v.name, want))
    end
    local hm = mount_of(hash.number)
    if hm then
      util.raise("usage", string.format("verity %s: the hash partition (part-label=%s) is mounted at %s by the "
        .. "image's /etc/fstab: it must be an unused partition", v.name, v.hash_label, hm.target))
    end
    -- The sizes are known now: a build that cannot succeed fails before the customization.
    check_hash_room(v.name, data, hash)
    devices[i] = { name = v.name, data = data.number, hash = hash.number, mount_point = want,
      data_id_type = v.data_id_type, hash_id_type = v.hash_id_type, corruption = v.corruption,
      hash_signature_path = v.hash_signature_path }
  end
  return devices
end

--- The fstab entries of the verity mounts (`devices[].mount_point`) made to
--- open `/dev/mapper/<name>` read-only (ALIC's updateFstabForVerity, plus
--- `ro`: a verity device cannot be written). Other lines are kept as they are.
---@param root imgrecipe.Image|imgrecipe.DiskRoot mounted
---@param devices imgrecipe.VerityBootDevice[]
---@return integer changed entries rewritten
function M.set_fstab(root, devices)
  util.validate("devices", devices, "table")
  local text = root:read_file("/etc/fstab")
  if not text then util.raise("usage", "verity: the image has no /etc/fstab") end
  local by_target = {}
  for _, v in ipairs(devices) do by_target[v.mount_point] = v.name end
  local out, changed = {}, 0
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    local f = {}
    if not line:match("^%s*#") then for w in line:gmatch("%S+") do f[#f + 1] = w end end
    local name = #f >= 2 and by_target[f[2]]
    if name then
      local opts = {}
      for o in (f[4] or "defaults"):gmatch("[^,]+") do
        if o ~= "rw" and o ~= "ro" and o ~= "defaults" then opts[#opts + 1] = o end
      end
      table.insert(opts, 1, "ro")
      f[1], f[3], f[4] = "/dev/mapper/" .. name, f[3] or "auto", table.concat(opts, ",")
      f[5], f[6] = f[5] or "0", f[6] or "0"
      line = table.concat(f, " ")
      changed = changed + 1
    end
    out[#out + 1] = line
  end
  if changed ~= #devices then
    util.raise("usage", "verity: /etc/fstab has no entry for every verity mount point")
  end
  root:write_file("/etc/fstab", table.concat(out, "\n") .. "\n", { mode = "0644" })
  return changed
end

--- The last step of two-stage verity (after `existing_partitions`,
--- `set_fstab`, `prepare_initramfs`, `set_grub_device`): unmounts `img`,
--- hashes each data partition whole into its hash partition (refused when
--- the hash partition has a filesystem or is too small, naming the bytes
--- needed and available), checks each tree, then writes ALIC's kernel
--- arguments (and `root=/dev/mapper/root` for root) into grub.cfg, on its
--- partition alone: /boot must be a separate partition for root verity.
--- Then mounts `img` again (now an image that uses verity: its data
--- read-only). Returns the `verity.format` results by device name and the
--- arguments.
---@param img imgrecipe.Image mounted; its working copy in the build directory
---@param devices imgrecipe.VerityBootDevice[] from `existing_partitions`
---@param opts? {work_dir?: string} where the disk's mount points go (default `<img.work_dir>/verity-disk`)
---@return table<string, imgrecipe.VerityInfo> infos
---@return string[] args
function M.seal_existing(img, devices, opts)
  util.check_options("verityboot.seal_existing", opts, { "work_dir" })
  util.validate("devices", devices, "table")
  opts = opts or {}
  local mounts = img:mounts()
  local grub_cfg = bootloader.layout(img).config
  local cfg_mount, cfg_path = mount_holding(mounts, grub_cfg)
  local boot_part
  for _, m in ipairs(mounts) do if m.target == "/boot" then boot_part = m.partition end end
  for _, v in ipairs(devices) do
    if cfg_mount.partition == v.data then
      util.raise("usage", string.format("verity %s: %s is on the hashed %s filesystem and cannot hold its root hash: "
        .. "/boot must be a separate partition", v.name, grub_cfg, v.mount_point))
    end
  end
  img:unmount()
  local d = disk.open(img.raw, { work_dir = opts.work_dir or (img.work_dir .. "/verity-disk") })
  local ok, infos, args = pcall(function()
    local infos, signed = {}, false
    for _, v in ipairs(devices) do
      local dp, hp = partition_of_disk(d, v.data), partition_of_disk(d, v.hash)
      local fs = d:filesystem(v.hash)
      if fs.type ~= "" then
        util.raise("usage", string.format("verity %s: the hash partition '%s' (partition %d) has a %s filesystem: it "
          .. "must be empty (its content is replaced by the hash tree)", v.name, hp.label or "", hp.number, fs.type))
      end
      check_hash_room(v.name, dp, hp)
      infos[v.name] = verity.format(d, v.data, v.hash)
      local good, why = verity.verify(d, v.data, v.hash, infos[v.name].root_hash)
      if not good then util.raise("runtime", string.format("verity %s: the new hash tree does not verify: %s", v.name, why)) end
      log.info("verity %s: root hash %s (%d bytes hashed)", v.name, infos[v.name].root_hash, infos[v.name].data_size)
      signed = signed or v.hash_signature_path ~= nil
    end
    local boot_uuid = signed and boot_part and d:filesystem(boot_part).uuid or nil
    local args = verity.kernel_args(d, devices, { boot_uuid = boot_uuid })
    if infos.root then args[#args + 1] = "root=/dev/mapper/root" end
    local r = d:mount({ ["/"] = { partition = cfg_mount.partition } })
    local text = r:read_file(cfg_path)
    if not text then util.raise("usage", string.format("verity: the image has no %s", grub_cfg)) end
    local new, lines = grub.replace_kernel_args(text, old_args(infos.root ~= nil), args)
    if lines == 0 then util.raise("usage", string.format("verity: %s has no kernel line", grub_cfg)) end
    r:write_file(cfg_path, new)
    log.info("%s: %s", grub_cfg, table.concat(args, " "))
    d:unmount()
    return infos, args
  end)
  d:release()
  if not ok then error(infos, 0) end
  -- Mounted again as an image that uses verity (its data read-only), for the output step.
  img:mount()
  return infos, args
end

return M
