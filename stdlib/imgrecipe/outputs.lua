--- The outputs a run wrote, for the summary line the CLI prints at the end
--- (path, format, size, time). Every function that writes an output records it.
-- @module imgrecipe.outputs
local M = {}

local written = {}

--- Records that `path` was written in `format`.
---@param path string
---@param format string
function M.record(path, format)
  written[#written + 1] = { path = path, format = format }
end

--- The outputs recorded so far, in order.
---@return {path: string, format: string}[]
function M.list()
  local out = {}
  for i, o in ipairs(written) do out[i] = o end
  return out
end

return M
