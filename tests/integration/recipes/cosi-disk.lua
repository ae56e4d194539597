-- An A/B layout built with imgrecipe.disk (ESP, root-a, root-b, a state
-- partition under /var) from an image's OS, written as COSI from the Disk
-- with one worker (the mapped, single-threaded zstd path; the other recipes
-- use the default, multithreaded one).
local disk = require "imgrecipe.disk"
local cosi = require "imgrecipe.cosi"

return {
  name = "cosi-disk",
  params = { input = { required = true }, output = { required = true }, report = { required = true } },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount({ read_only = true })
    local d = disk.create(ctx.work_dir .. "/ab.raw", "3G")
    d:partition { table = "gpt", partitions = {
      { id = "esp", type = "esp", size = "64M", label = "esp" },
      { id = "root-a", type = "root", size = "1400M", label = "root-a" },
      { id = "root-b", type = "root", size = "1400M", label = "root-b" },
      { id = "state", type = "linux-generic", size = "grow", label = "state" } } }
    d:format("esp", { type = "vfat" })
    d:format("root-a", { type = "ext4" })
    d:format("root-b", { type = "ext4" })
    d:format("state", { type = "ext4" })
    d:mount { ["/"] = "root-a", ["/boot/efi"] = "esp", ["/var/lib/state"] = "state" }
    d:copy_os_from(img)
    d:write_fstab { id_type = "part-uuid" }
    img:close()
    local r = cosi.write(d, ctx.params.output, { level = 3, workers = 1 })
    local lines = { "id=" .. r.id }
    for _, i in ipairs(r.images) do lines[#lines + 1] = "image " .. i.mount_point .. " " .. i.path end
    for _, g in ipairs(r.regions) do lines[#lines + 1] = "region " .. g.type .. " " .. tostring(g.number) end
    d:release()
    local f = assert(io.open(ctx.params.report, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
  end,
}
