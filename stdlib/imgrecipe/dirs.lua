--- Directory trees copied from the host into the image (ALIC's
--- additionalDirs). The copy is done by the host: every destination path is
--- resolved inside the image, files are streamed and keep their holes.
-- @module imgrecipe.dirs
local files = require "imgrecipe.host.files"
local log = require "imgrecipe.log"
local sys = require "imgrecipe.host.sys"
local util = require "imgrecipe.util"

local M = {}

---@class imgrecipe.CopyDirOpts
---@field new_dir_mode? string|integer mode of created directories (default "0755")
---@field merged_dir_mode? string|integer mode given to directories that already exist (default: kept)
---@field file_mode? string|integer mode of every copied file (default "0755")

--- Copies the contents of the host directory `source` into `dest` in the
--- image, merging with what is there. Source symlinks are followed.
---@param img imgrecipe.Image
---@param source string host directory
---@param dest string absolute path in the image
---@param opts? imgrecipe.CopyDirOpts
---@return {files: integer, dirs_created: integer, dirs_merged: integer}
function M.copy_dir(img, source, dest, opts)
  util.check_options("dirs.copy_dir", opts, { "new_dir_mode", "merged_dir_mode", "file_mode" })
  util.validate("source", source, "string")
  util.validate("dest", dest, "string")
  util.validate("opts", opts, "table", true)
  opts = opts or {}
  if sys.kind(source) ~= "directory" then
    util.raise("usage", string.format("source directory '%s' does not exist or is not a directory", source))
  end
  local mode = function(m) return m ~= nil and util.mode(m) or nil end
  local res = util.annotate(string.format("failed to copy directory (source='%s', destination='%s')", source, dest),
    files.copy_tree, img:_root(), source, dest, {
      new_dir_mode = mode(opts.new_dir_mode), merged_dir_mode = mode(opts.merged_dir_mode),
      file_mode = mode(opts.file_mode),
    })
  log.info("%s -> %s: %d file(s), %d new and %d merged directories", source, dest, res.files, res.dirs_created,
    res.dirs_merged)
  return res
end

return M
