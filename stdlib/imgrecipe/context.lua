--- The build context passed to a recipe's run(ctx).
-- @module imgrecipe.context
local image = require "imgrecipe.image"
local sys = require "imgrecipe.host.sys"
local log = require "imgrecipe.host.log"
local util = require "imgrecipe.util"

---@class imgrecipe.Context
---@field params table<string,string> recipe parameters (defaults applied)
---@field build_dir string the build directory
---@field work_dir string this run's private directory inside the build directory
---@field recipe_dir string directory of the recipe file
---@field api_version integer
local Context = {}
Context.__index = Context

local M = {}

function M.new(fields)
  local ctx = setmetatable(fields, Context)
  ctx._images = {}
  return ctx
end

--- Runs `fn` as a named step: log lines carry the name and an error is
--- reported as "step '<name>': ...".
---@param name string
---@param fn fun()
function Context:step(name, fn)
  util.validate("name", name, "string")
  util.validate("fn", fn, "function")
  sys.check_interrupted()
  local previous = log.step()
  log.set_step(name)
  log.info("start")
  local ok, err = pcall(fn)
  log.set_step(previous)
  if ok then return end
  if type(err) ~= "table" then error(string.format("step '%s': %s", name, tostring(err)), 0) end
  if err.message and not err.message:find("^step '") then
    err.message = string.format("step '%s': %s", name, err.message)
  end
  error(err, 0)
end

--- Opens an input image as a raw working copy in this run's directory (or,
--- for a raw output named in `opts`, as the output's temporary file: see
--- imgrecipe.image.open).
---@param path string
---@param opts? imgrecipe.OpenOpts
---@return imgrecipe.Image
function Context:open(path, opts)
  util.check_options("ctx:open", opts, { "output", "output_format" })
  local n = #self._images + 1
  local img = image.open(path, string.format("%s/image-%d", self.work_dir, n), opts)
  self._images[n] = img
  return img
end

--- Releases every image opened through this context (no write-back).
function Context:close_all()
  for i = #self._images, 1, -1 do
    local ok, err = pcall(self._images[i].close, self._images[i])
    if not ok then log.error("closing image: " .. tostring(err)) end
  end
  self._images = {}
end

M.Context = Context
return M
