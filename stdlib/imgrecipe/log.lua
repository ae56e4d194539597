--- Logging through the host's log channel (same format, same step names).
-- @module imgrecipe.log
local host = require "imgrecipe.host.log"

local M = {}

local function fmt(...)
  if select("#", ...) > 1 then return string.format(...) end
  return tostring((...))
end

--- Logs at info level; extra arguments are string.format'ed.
---@param msg string
---@param ... any string.format arguments
function M.info(msg, ...) host.info(fmt(msg, ...)) end
--- Logs at warn level.
---@param msg string
---@param ... any string.format arguments
function M.warn(msg, ...) host.warn(fmt(msg, ...)) end
--- Logs at error level.
---@param msg string
---@param ... any string.format arguments
function M.error(msg, ...) host.error(fmt(msg, ...)) end
--- Logs at debug level.
---@param msg string
---@param ... any string.format arguments
function M.debug(msg, ...) host.debug(fmt(msg, ...)) end

return M
