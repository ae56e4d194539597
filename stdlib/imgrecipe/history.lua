--- What a customization leaves behind in the image, as ALIC does:
--- /etc/image-customizer-release and the history of customizations in
--- /usr/share/image-customizer/history.json (lib/releasefile.go,
--- lib/imagehistory.go).
-- @module imgrecipe.history
local json = require "imgrecipe.json"
local sys = require "imgrecipe.host.sys"
local util = require "imgrecipe.util"
local log = require "imgrecipe.log"

local M = {}

M.RELEASE_FILE = "/etc/image-customizer-release"
M.HISTORY_DIR = "/usr/share/image-customizer"
M.HISTORY_FILE = M.HISTORY_DIR .. "/history.json"
M.REDACTED = "[redacted]"

---@class imgrecipe.BuildInfo
---@field version string tool version
---@field build_date string e.g. "2026-01-31T12:00:00Z"
---@field uuid string image UUID, new for every build

--- Identification of one build: imgrecipe's version, the time (UTC) and a
--- new random image UUID.
---@return imgrecipe.BuildInfo
function M.new_build()
  return { version = sys.version, build_date = os.date("!%Y-%m-%dT%H:%M:%SZ"), uuid = sys.random_uuid() }
end

--- The release file's content (ALIC's exact layout, blank last line).
---@param info imgrecipe.BuildInfo
---@return string
function M.release_text(info)
  return string.format('TOOL_VERSION="%s"\nBUILD_DATE="%s"\nIMAGE_UUID="%s"\n\n', info.version, info.build_date, info.uuid)
end

--- Writes /etc/image-customizer-release.
---@param img imgrecipe.Image
---@param info imgrecipe.BuildInfo
function M.write_release(img, info)
  img:write_file(M.RELEASE_FILE, M.release_text(info), { mode = "0644" })
  log.info("%s: image UUID %s", M.RELEASE_FILE, info.uuid)
end

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = deep_copy(x) end
  return t
end

--- The config as history records it: a copy with the sha256 of every source
--- file it references (additionalFiles, additionalDirs, script paths,
--- relative to `base_dir`), SSH public keys and password values redacted.
---@param data table the config (one config of the chain, not merged)
---@param base_dir string the config's directory
---@return table
function M.config_record(data, base_dir)
  local c = deep_copy(data or {})
  local os_ = c.os or {}
  for _, f in ipairs(os_.additionalFiles or {}) do
    if f.source and f.source ~= "" then f.sha256hash = sys.sha256_file(util.join(base_dir, f.source)) end
  end
  for _, d in ipairs(os_.additionalDirs or {}) do
    if d.source and d.source ~= "" then d.sha256hashmap = sys.sha256_tree(util.join(base_dir, d.source)) end
  end
  for _, kind in ipairs({ "postCustomization", "finalizeCustomization" }) do
    for _, s in ipairs((c.scripts or {})[kind] or {}) do
      if s.path and s.path ~= "" then s.sha256hash = sys.sha256_file(util.join(base_dir, s.path)) end
    end
  end
  for _, u in ipairs(os_.users or {}) do
    for i in ipairs(u.sshPublicKeys or {}) do u.sshPublicKeys[i] = M.REDACTED end
    -- ALIC keeps password values; a history readable in the image must not.
    if type(u.password) == "table" and u.password.value ~= nil then u.password.value = M.REDACTED end
  end
  return c
end

--- Appends `text` (one encoded entry) to the JSON array in `existing`,
--- keeping earlier entries byte for byte.
---@param existing string|nil
---@param entry_json string
---@return string
function M.append_entry(existing, entry_json)
  local body = existing and existing:match("^%s*%[(.-)%]%s*$")
  if existing and existing:match("%S") and not body then
    util.raise("config", string.format("failed to read image history (file='%s'): not a JSON array", M.HISTORY_FILE))
  end
  body = (body or ""):gsub("%s+$", "")
  local sep = body:match("%S") and (body .. ",\n") or "\n"
  return "[" .. sep .. " " .. entry_json .. "\n]"
end

--- Appends one customization to the image's history.json.
---@param img imgrecipe.Image
---@param info imgrecipe.BuildInfo
---@param config_record table from `config_record`
function M.append(img, info, config_record)
  local entry = json.ordered({
    timestamp = info.build_date, toolVersion = info.version, imageUuid = info.uuid, config = config_record,
  }, { "timestamp", "toolVersion", "imageUuid", "config" })
  local text = M.append_entry(img:read_file(M.HISTORY_FILE), json.encode(entry, " "))
  img:mkdir(M.HISTORY_DIR, { mode = "0755" })
  img:write_file(M.HISTORY_FILE, text)
  log.info("%s: entry for image %s added", M.HISTORY_FILE, info.uuid)
end

return M
