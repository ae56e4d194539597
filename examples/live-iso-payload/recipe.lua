-- A provisioning live ISO: the live system comes from one image, and the
-- ISO carries another image as its payload, as a COSI file a provisioning
-- agent on the live system can stream onto a machine's disk. The YAML
-- format can put a host file on the media, but it cannot make the payload
-- from a second image in the same build.
--
--   imgrecipe run examples/live-iso-payload/recipe.lua --param live=base.qcow2 \
--       --param payload=target.qcow2 --param output=provision.iso
--
-- The live image must be able to boot live: dracut and dracut-live are
-- installed into it from its own package sources (or `deb_sources`). The
-- payload image must have a GPT partition table (COSI's requirement).
local cosi = require "imgrecipe.cosi"
local liveos = require "imgrecipe.liveos"

return {
  name = "live-iso-payload",
  description = "live ISO whose media carries a COSI of a second image at /payload/os.cosi",
  api = 1,
  params = {
    live = { required = true, description = "image the live system is made from" },
    payload = { required = true, description = "image carried on the media as COSI" },
    output = { required = true, description = "the ISO" },
    deb_sources = { list = true, description = "local .deb directories or apt source files for dracut" },
    console = { default = "ttyS0,115200n8", description = "serial console (kernel console= argument)" },
    level = { default = "3", description = "zstd level of the payload COSI" },
  },
  run = function(ctx)
    local payload = ctx.work_dir .. "/os.cosi"
    ctx:step("payload", function()
      local target = ctx:open(ctx.params.payload)
      cosi.write(target, payload, { level = tonumber(ctx.params.level) })
      target:close()
    end)

    local img = ctx:open(ctx.params.live)
    img:mount()
    ctx:step("live packages", function()
      local sources = ctx.params.deb_sources
      img:packages { install = { "dracut", "dracut-live" }, sources = #sources > 0 and sources or nil,
                     disable_base_repos = #sources > 0 }
    end)
    ctx:step("provisioning agent", function()
      -- Stands in for a real agent: reports the payload it would install.
      img:write_file("/usr/local/bin/provision", [[#!/bin/sh
payload=/run/initramfs/live/payload/os.cosi
if tar -tf "$payload" metadata.json >/dev/null 2>&1; then
  echo "PROVISION payload=$(tar -xOf "$payload" metadata.json | grep -m1 -o '"osArch": "[^"]*"')"
else
  echo "PROVISION payload=missing"
fi
]], { mode = "0755" })
      img:write_file("/etc/systemd/system/provision.service", [[[Unit]
Description=Provisioning agent (example)
After=multi-user.target
[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/usr/local/bin/provision
[Install]
WantedBy=multi-user.target
]])
      img:enable_service("provision.service")
    end)
    ctx:step("live iso", function()
      liveos.build(img, ctx.params.output, {
        work_dir = ctx.work_dir .. "/liveos",
        extra_args = { "console=" .. ctx.params.console },
        files = { { source = payload, path = "/payload/os.cosi" } },
      })
    end)
    img:close()
  end,
}
