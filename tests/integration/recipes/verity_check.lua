-- Checks one verity device of a saved disk in process (imgrecipe.verity.verify):
-- partition numbers `data` and `hash`, `root_hash`; writes "verify=<ok>:<why>"
-- to `report`.
local disk = require "imgrecipe.disk"
local verity = require "imgrecipe.verity"

return {
  name = "verity_check",
  params = {
    disk = { required = true },
    data = { required = true },
    hash = { required = true },
    root_hash = { required = true },
    report = { required = true },
  },
  run = function(ctx)
    local d = disk.open(ctx.params.disk, { work_dir = ctx.work_dir .. "/disk" })
    local ok, good, why = pcall(verity.verify, d, ctx.params.data, ctx.params.hash, ctx.params.root_hash)
    d:release()
    if not ok then error(good, 0) end
    local f = assert(io.open(ctx.params.report, "w"))
    f:write("verify=", tostring(good), ":", tostring(why), "\n")
    f:close()
  end,
}
