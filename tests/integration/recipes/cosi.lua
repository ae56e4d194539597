-- Customizes an image a little (a marker file) and writes it as COSI with
-- imgrecipe.cosi; reports what cosi.write returned.
local cosi = require "imgrecipe.cosi"

return {
  name = "cosi",
  params = {
    input = { required = true },
    output = { required = true },
    report = { required = true },
    level = { default = "9" },
    workers = { default = "0" },  -- zstd workers (0: one per CPU; 1: this thread, input mapped)
    boot_marker = { default = "" },  -- "1": a unit prints COSI-BOOTED <the marker file> on the console
  },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount()
    img:write_file("/etc/cosi-test", "written before the COSI\n")
    if ctx.params.boot_marker == "1" then
      img:write_file("/etc/systemd/system/cosi-marker.service", table.concat({
        "[Unit]", "Description=COSI boot marker", "After=multi-user.target", "",
        "[Service]", "Type=oneshot",
        "ExecStart=/bin/sh -c 'echo \"COSI-BOOTED $(cat /etc/cosi-test) root=$(findmnt -n -o SOURCE /)\" > /dev/ttyS0'",
        "", "[Install]", "WantedBy=multi-user.target", "" }, "\n"))
      img:enable_service("cosi-marker.service")
    end
    local r = cosi.write(img, ctx.params.output,
      { level = tonumber(ctx.params.level), workers = tonumber(ctx.params.workers) })
    local lines = { "id=" .. r.id }
    for _, i in ipairs(r.images) do
      lines[#lines + 1] = string.format("image %s %s %s", i.mount_point, i.fs_type, i.path)
    end
    local f = assert(io.open(ctx.params.report, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
  end,
}
