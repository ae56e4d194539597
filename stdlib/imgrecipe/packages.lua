--- Packages: install, remove and update packages inside an image with its
--- own package manager (tdnf, dnf or apt-get), from the image's repositories
--- and/or local sources, and remove the package manager itself.
-- @module imgrecipe.packages
local host = require "imgrecipe.host.packages"
local sys = require "imgrecipe.host.sys"
local util = require "imgrecipe.util"

local M = {}

---@class imgrecipe.PackagesSpec
---@field remove? string[] packages to remove (first)
---@field update_existing? boolean update every installed package (second)
---@field install? string[] packages to install (third)
---@field update? string[] packages to update (last)
---@field sources? string[] host paths: directories of .rpm/.deb files, .repo files (tdnf/dnf), .list/.sources files (apt-get)
---@field disable_base_repos? boolean do not use the image's own repositories
---@field manager? string "tdnf", "dnf" or "apt-get" (default: detected from the image)
---@field releasever? string tdnf/dnf --releasever

local FIELDS = {
  remove = "table", update_existing = "boolean", install = "table", update = "table",
  sources = "table", disable_base_repos = "boolean", manager = "string", releasever = "string",
}

local function check_spec(spec)
  util.validate("spec", spec, "table")
  for k, v in pairs(spec) do
    local t = FIELDS[k]
    if not t then util.raise("usage", string.format("packages: unknown field '%s'", tostring(k))) end
    util.validate("packages." .. k, v, t)
  end
end

--- Whether a spec installs or updates anything, and so needs package sources.
---@param spec imgrecipe.PackagesSpec
---@return boolean
function M.needs_sources(spec)
  return #(spec.install or {}) > 0 or #(spec.update or {}) > 0 or spec.update_existing == true
end

--- Runs one ordered transaction: metadata refreshed once, then remove →
--- update existing → install → update, then caches cleaned. Local sources
--- are made visible only to these commands; nothing of them stays in the
--- image. Returns the package manager used.
---@param img imgrecipe.Image
---@param spec imgrecipe.PackagesSpec
---@return string manager
function M.transaction(img, spec)
  util.check_options("packages.transaction", spec,
    { "remove", "update_existing", "install", "update", "sources", "disable_base_repos", "manager", "releasever" })
  check_spec(spec)
  local sources = {}
  for i, s in ipairs(spec.sources or {}) do
    util.validate("sources[" .. i .. "]", s, "string")
    sources[i] = sys.absolute(s)
  end
  img._package_runs = (img._package_runs or 0) + 1
  util.validate("img.work_dir", img.work_dir, "string")
  local work_dir = string.format("%s/packages-%d", img.work_dir, img._package_runs)
  -- Staged sources live in the build directory only (sys.mkdir refuses elsewhere).
  sys.mkdir(work_dir)
  return host.transaction(img:_root(), {
    manager = spec.manager, remove = spec.remove, update_existing = spec.update_existing,
    install = spec.install, update = spec.update, sources = sources,
    disable_base_repos = spec.disable_base_repos, releasever = spec.releasever,
    work_dir = work_dir,
  })
end

--- Removes the package manager (tdnf, dnf, dnf5, rpm; or apt, apt-utils,
--- purged) and its databases and caches. Returns the packages removed.
---@param img imgrecipe.Image
---@param opts? {manager?: string}
---@return string[]
function M.remove_manager(img, opts)
  util.check_options("packages.remove_manager", opts, { "manager" })
  util.validate("opts", opts, "table", true)
  return host.remove_manager(img:_root(), opts or {})
end

--- The image's package manager: "tdnf", "dnf" or "apt-get".
---@param img imgrecipe.Image
---@return string
function M.manager(img)
  return host.detect(img:_root())
end

--- Whether a package is installed in the image.
---@param img imgrecipe.Image
---@param name string
---@param opts? {manager?: string}
---@return boolean
function M.installed(img, name, opts)
  util.check_options("packages.installed", opts, { "manager" })
  util.validate("name", name, "string")
  return host.installed(img:_root(), name, opts or {})
end

--- Package names of a list file (`packages: [a, b]`, as ALIC's installLists).
---@param path string
---@return string[]
function M.load_list(path)
  return require("imgrecipe.host.config").load_package_list(path)
end

return M
