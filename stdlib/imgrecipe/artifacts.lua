--- Boot artifacts for external signing (alic-reference §2.7, §2.10, §1.5,
--- §4.1 step 22), as ALIC's `output.artifacts` and `inject-files` do them:
--- `export` copies the unsigned UKIs (with their addons), shim, boot loader
--- and verity root hashes out of a customized image into a directory and
--- writes `inject-files.yaml` there; after signing, `inject` copies the
--- signed files back into the partitions the yaml names. docs/config.md
--- ("output.artifacts and inject-files").
---
---     local artifacts = require "imgrecipe.artifacts"
---     artifacts.export(img, "/out/artifacts", { "ukis", "shim" })    -- img mounted
---     -- ... sign /out/artifacts/shim/bootx64.efi ...
---     local cfg = artifacts.load("/out/artifacts/inject-files.yaml")
---     artifacts.inject(disk.open(img2.raw), cfg)
-- @module imgrecipe.artifacts
local host_disk = require "imgrecipe.host.disk"
local host_config = require "imgrecipe.host.config"
local sys = require "imgrecipe.host.sys"
local host_iso = require "imgrecipe.host.iso"
local cosi = require "imgrecipe.cosi"
local log = require "imgrecipe.log"
local util = require "imgrecipe.util"

local validate = util.validate

local M = {}

--- The items `output.artifacts.items` accepts, in ALIC's order of export.
M.ITEMS = { "ukis", "shim", "bootloader", "verity-hash" }

local ESP_TYPE = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
local BIOS_BOOT_TYPE = "21686148-6449-6e6f-744e-656564454649"
-- ALIC's UKI directory on the ESP and its UKI file names.
local UKI_DIR = "EFI/Linux"
local UKI_PATTERN = "^vmlinuz%-.*%.efi$"
-- ALIC's boot files per architecture (Azure Linux names, EFI/BOOT on the ESP).
local BOOT_FILES = {
  x86_64 = { shim = "bootx64.efi", bootloader = "grubx64.efi" },
  arm64 = { shim = "bootaa64.efi", bootloader = "grubaa64.efi" },
}

--- Checks an items list as ALIC does: at least one, each known; `uki-addons`
--- is refused (addons come with `ukis`).
---@param items string[]
function M.check_items(items)
  validate("items", items, "table")
  if #items == 0 then util.raise("usage", "output artifacts: 'items' and 'path' must both be specified and non-empty") end
  for _, it in ipairs(items) do
    if it == "uki-addons" then
      util.raise("usage", "output artifacts: invalid item value (uki-addons); uki-addons are automatically included with ukis")
    end
    local known = false
    for _, k in ipairs(M.ITEMS) do known = known or k == it end
    if not known then
      util.raise("usage", string.format("output artifacts: invalid item value (%s): expected one of %s", tostring(it),
        table.concat(M.ITEMS, ", ")))
    end
  end
end

local function is_disk(target)
  return getmetatable(target) == require("imgrecipe.disk").Disk
end

-- The partition numbers of the mounts of an Image or Disk: {path -> number}.
local function mount_numbers(target)
  local out = {}
  if is_disk(target) then
    local by_device = {}
    for _, p in ipairs(target:partitions()) do if p.device then by_device[p.device] = p.number end end
    for _, m in ipairs(target:mounts()) do out[m.target] = by_device[m.device] end
  else
    for _, m in ipairs(target:mounts()) do
      if m.partition and m.partition > 0 then out[m.target] = m.partition end
    end
  end
  return out
end

-- `path` (relative, "/"-separated) under `dir` of `root`, each component
-- matched without regard to case when it does not exist as written (FAT).
local function find_ci(root, dir, path)
  local cur = dir
  for comp in path:gmatch("[^/]+") do
    local exact = (cur == "/" and "" or cur) .. "/" .. comp
    if root:exists(exact) then
      cur = exact
    else
      local found
      for _, name in ipairs(root:list_dir(cur) or {}) do
        if name:lower() == comp:lower() then found = (cur == "/" and "" or cur) .. "/" .. name end
      end
      if not found then return nil end
      cur = found
    end
  end
  return cur
end
M._find_ci = find_ci

-- Writes a file of the artifacts tree being built (host_iso.output_dir).
local write_host = util.write_host

-- A YAML scalar as Go's yaml.v3 writes a string: plain when it reads back
-- as the same string, else double-quoted.
local SPECIAL = { ["true"] = 1, ["false"] = 1, yes = 1, no = 1, on = 1, off = 1, y = 1, n = 1, null = 1, ["~"] = 1 }
local function scalar(s)
  if s ~= "" and s:match("^[%w./_][%w./_+@=-]*$") and not SPECIAL[s:lower()]
      and not s:match("^[-+]?[%d_]+$") and not s:match("^[-+]?[%d_]*%.[%d_]*$")
      and not s:match("^[-+]?[%d_]*%.?[%d_]*[eE][-+]?%d+$") and not s:match("^0[xX]%x+$") and not s:match("^0[oO][0-7]+$")
      and not s:match("^0[bB][01]+$") then
    return s
  end
  return '"' .. s:gsub('[\\"]', "\\%0"):gsub("\n", "\\n"):gsub("\t", "\\t") .. '"'
end

--- The text of an inject-files.yaml for `entries` (`{partition = {idType=,
--- id=}, destination=, source=, type=}`), formatted as ALIC writes it (Go's
--- yaml.v3, 4-space indentation, fields in ALIC's order), with the
--- `inject-files` preview feature.
---@param entries table[]
---@return string
function M.inject_files_yaml(entries)
  local lines = {}
  if #entries == 0 then
    lines[1] = "injectFiles: []"
  else
    lines[1] = "injectFiles:"
    for _, e in ipairs(entries) do
      lines[#lines + 1] = "    - partition:"
      lines[#lines + 1] = "        idType: " .. scalar(e.partition.idType)
      lines[#lines + 1] = "        id: " .. scalar(e.partition.id)
      lines[#lines + 1] = "      destination: " .. scalar(e.destination)
      lines[#lines + 1] = "      source: " .. scalar(e.source)
      lines[#lines + 1] = "      type: " .. scalar(e.type)
    end
  end
  lines[#lines + 1] = "previewFeatures:"
  lines[#lines + 1] = "    - inject-files"
  return table.concat(lines, "\n") .. "\n"
end

---@class imgrecipe.ArtifactsVerity
---@field name string "root" or "usr"
---@field root_hash string hex
---@field hash_signature_path? string ALIC's hashSignaturePath, e.g. "/boot/root.hash"; devices without one are skipped

---@class imgrecipe.ArtifactsOpts
---@field verity? imgrecipe.ArtifactsVerity[] for `verity-hash`
---@field arch? string "x86_64" or "arm64" (default: from the image's programs)

--- Refuses an artifacts directory that exists and is not empty (call it
--- before a build, so a bad path fails at once).
---@param dir string
function M.check_dir(dir)
  validate("dir", dir, "string")
  host_iso.check_dir_output(dir)
end

--- Exports the unsigned boot artifacts of a mounted Image or Disk into
--- `dir` as ALIC does, and writes `dir/inject-files.yaml`. The tree is built
--- beside `dir` and renamed into place when complete, so `dir` must be
--- missing or an empty directory (ALIC writes into any directory):
--- `ukis`: every `EFI/Linux/vmlinuz-*.efi` of the ESP into `ukis/`, with its
--- `<name>.extra.d/` addons (type `uki-addons`); `shim`: the ESP's
--- `EFI/BOOT/bootx64.efi` (bootaa64.efi) into `shim/`; `bootloader`:
--- `EFI/BOOT/grubx64.efi` (grubaa64.efi) into `bootloader/`; `verity-hash`:
--- each root hash with a hash signature path into `verity-hash/<basename>`,
--- injected at that path less `/boot` on the boot partition. ESP files are
--- found without regard to case (FAT). Partitions are referenced by
--- PARTUUID: the ESP (the single ESP or BIOS boot partition), and the boot
--- partition (the one mounted at /boot, else the root). Returns the entries.
---@param target imgrecipe.Image|imgrecipe.Disk mounted
---@param dir string host directory
---@param items string[]
---@param opts? imgrecipe.ArtifactsOpts
---@return table[] entries
function M.export(target, dir, items, opts)
  validate("target", target, "table")
  validate("dir", dir, "string")
  validate("opts", opts, "table", true)
  opts = opts or {}
  M.check_items(items)
  local want = {}
  for _, it in ipairs(items) do want[it] = true end
  local root = is_disk(target) and target:root() or target
  local raw = is_disk(target) and target.path or target.raw
  local parts = host_disk.partitions(raw).partitions
  local esp
  for _, p in ipairs(parts) do
    local t = (p.type or ""):lower()
    if t == ESP_TYPE or t == BIOS_BOOT_TYPE then
      if esp then util.raise("usage", "output artifacts: found more than one boot partition (ESP or BIOS boot partition)") end
      esp = p
    end
  end
  if not esp then util.raise("usage", "output artifacts: failed to find boot partition (ESP or BIOS boot partition)") end
  local numbers = mount_numbers(target)
  local by_number = {}
  for _, p in ipairs(parts) do by_number[p.number] = p end
  local boot = by_number[numbers["/boot"] or numbers["/"] or -1]
  local esp_mount
  for path, n in pairs(numbers) do if n == esp.number then esp_mount = path end end
  local esp_ref = { idType = "part-uuid", id = esp.partuuid:lower() }
  local entries = {}
  local out = host_iso.output_dir(dir)
  local tmp = out:tmp()
  local ok, err = pcall(function()
    local function esp_file(rel)
      if not esp_mount then
        util.raise("usage", string.format("output artifacts: the boot partition %d is not mounted in the OS (no ESP?)", esp.number))
      end
      return find_ci(root, esp_mount, rel)
    end
    local function copy_out(src, item, rel)
      local content = root:read_file(src)
      if not content then util.raise("usage", string.format("output artifacts: cannot read %s in the image", src)) end
      out:mkdir(util.dirname(item .. "/" .. rel))
      write_host(tmp .. "/" .. item .. "/" .. rel, content)
      log.info("output artifacts: %s -> %s/%s/%s", src, dir, item, rel)
    end

    if want.ukis then
      local uki_dir = esp_file(UKI_DIR)
      local names = uki_dir and root:list_dir(uki_dir)
      if not names then
        util.raise("usage", string.format("output artifacts: failed to read UKI directory %s/%s", esp_mount, UKI_DIR))
      end
      table.sort(names)
      out:mkdir("ukis")
      for _, name in ipairs(names) do
        local st = root:stat(uki_dir .. "/" .. name)
        if st and st.type ~= "directory" and name:match(UKI_PATTERN) then
          copy_out(uki_dir .. "/" .. name, "ukis", name)
          entries[#entries + 1] = { partition = esp_ref, source = "./ukis/" .. name,
                                    destination = "/" .. UKI_DIR .. "/" .. name, type = "ukis" }
          local addon_dir = name .. ".extra.d"
          local addons = root:list_dir(uki_dir .. "/" .. addon_dir)
          if addons then
            table.sort(addons)
            for _, a in ipairs(addons) do
              local ast = root:stat(uki_dir .. "/" .. addon_dir .. "/" .. a)
              if ast and ast.type ~= "directory" then
                copy_out(uki_dir .. "/" .. addon_dir .. "/" .. a, "ukis", addon_dir .. "/" .. a)
                entries[#entries + 1] = { partition = esp_ref, source = "./ukis/" .. addon_dir .. "/" .. a,
                                          destination = "/" .. UKI_DIR .. "/" .. addon_dir .. "/" .. a, type = "uki-addons" }
              end
            end
          end
        end
      end
    end

    local files
    if want.shim or want.bootloader then
      local arch = opts.arch or cosi.arch(root)
      files = BOOT_FILES[arch]
      if not files then util.raise("unsupported", "output artifacts: no boot file names for architecture " .. arch) end
    end
    for _, item in ipairs({ "shim", "bootloader" }) do
      if want[item] then
        local rel = "EFI/BOOT/" .. files[item]
        local src = esp_file(rel)
        if not src then
          util.raise("usage", string.format("output artifacts: %s: the ESP has no %s", item, rel))
        end
        copy_out(src, item, files[item])
        entries[#entries + 1] = { partition = esp_ref, source = "./" .. item .. "/" .. files[item],
                                  destination = "/" .. rel, type = item }
      end
    end

    if want["verity-hash"] then
      out:mkdir("verity-hash")
      for _, v in ipairs(opts.verity or {}) do
        local sig = v.hash_signature_path
        if sig and sig ~= "" then
          if not boot then util.raise("usage", "output artifacts: verity-hash: no /boot or / partition is mounted") end
          local dest = sig:gsub("^/boot", "")
          local base = dest:match("([^/]+)$")
          write_host(tmp .. "/verity-hash/" .. base, v.root_hash)
          entries[#entries + 1] = { partition = { idType = "part-uuid", id = boot.partuuid:lower() },
                                    source = "./verity-hash/" .. base, destination = "/" .. dest:gsub("^/+", ""),
                                    type = "verity-hash" }
          log.info("output artifacts: %s root hash -> %s/verity-hash/%s", v.name or "verity", dir, base)
        end
      end
    end

    write_host(tmp .. "/inject-files.yaml", M.inject_files_yaml(entries))
  end)
  if not ok then
    out:release()
    error(err, 0)
  end
  out:commit()
  log.info("output artifacts: %d file(s) and inject-files.yaml in %s", #entries, dir)
  return entries
end

--- Loads an inject-files.yaml strictly (file:line:column errors; the
--- `inject-files` preview feature must be listed) and resolves each
--- `source` against the file's directory: `{dir=, entries={{partition=
--- {idType=, id=}, source=<absolute>, destination=, type=}, ...}}`.
---@param path string
---@return table
function M.load(path)
  validate("path", path, "string")
  local abs = sys.absolute(path)
  local data = host_config.load_inject_files(abs)
  local dir = util.dirname(abs)
  local entries = {}
  for _, e in ipairs(data.injectFiles or {}) do
    local idType = e.partition.idType
    entries[#entries + 1] = {
      partition = { idType = (idType == nil or idType == "") and "part-uuid" or idType, id = e.partition.id },
      source = sys.absolute(util.join(dir, e.source)), destination = e.destination, type = e.type,
    }
  end
  return { dir = dir, entries = entries }
end

-- The partition a reference names, among `parts` (host.disk.partitions).
local function find_partition(parts, ref)
  local found
  for _, p in ipairs(parts) do
    local v
    if ref.idType == "part-uuid" then v = p.partuuid
    elseif ref.idType == "uuid" then v = p.uuid
    elseif ref.idType == "part-label" then v = p.partlabel end
    if v and v ~= "" and v:lower() == ref.id:lower() then
      if found then
        util.raise("usage", string.format("inject-files: more than one partition has %s %s", ref.idType, ref.id))
      end
      found = p
    end
  end
  if not found then
    util.raise("usage", string.format("inject-files: no partition with %s %s", ref.idType, ref.id))
  end
  return found
end

--- Copies each entry's source into the partition its reference names, at
--- its destination (on FAT, an existing file is matched without regard to
--- case, so `/EFI/BOOT/bootx64.efi` replaces `BOOTX64.EFI`). Partitions are
--- mounted one at a time, alone; the Disk must not be mounted. Every source
--- is checked to exist before anything is written. Returns the partitions
--- written, by number.
---@param d imgrecipe.Disk
---@param cfg table what `load` returns
---@return integer[]
function M.inject(d, cfg)
  validate("disk", d, "table")
  validate("cfg", cfg, "table")
  local parts = host_disk.partitions(d.path).partitions
  local groups, order = {}, {}
  for i, e in ipairs(cfg.entries) do
    if sys.kind(e.source) ~= "file" then
      util.raise("usage", string.format("inject-files: injectFiles[%d].source: %s is not a file", i - 1, e.source))
    end
    local p = find_partition(parts, e.partition)
    if not groups[p.number] then
      groups[p.number] = { part = p, entries = {} }
      order[#order + 1] = p.number
    end
    table.insert(groups[p.number].entries, e)
  end
  for _, n in ipairs(order) do
    local g = groups[n]
    local root = d:mount({ ["/"] = n })
    local ok, err = pcall(function()
      for _, e in ipairs(g.entries) do
        local dest = e.destination
        if g.part.fstype == "vfat" then
          dest = find_ci(root, "/", dest:sub(2)) or dest
        end
        root:copy_file(e.source, dest)
        log.info("inject-files: %s -> partition %d (%s) %s", e.source, n, g.part.fstype, dest)
      end
    end)
    d:unmount()
    if not ok then error(err, 0) end
  end
  return order
end

return M
