-- A lab VM: the same hardening library with settings relaxed for a lab
-- (password logins, SSH on port 2222, IP forwarding for test networks),
-- plus a helper module from the recipe's own directory.
--
--   IMGRECIPE_LIB_PATH=examples/lib imgrecipe run examples/lab-vm/recipe.lua \
--     --param input=base.qcow2 --param output=lab.qcow2 --param format=qcow2 --param owner=alice
local hardening = require "hardening"
local motd = require "motd"

return {
  name = "lab-vm",
  description = "A lab machine: relaxed SSH hardening, IP forwarding, a message of the day",
  api = 1,
  params = {
    input = { required = true, description = "the base image" },
    output = { required = true, description = "the image to write" },
    format = { default = "raw", description = "raw, qcow2, vhd, vhd-fixed or vhdx" },
    hostname = { default = "lab-vm", description = "the machine's hostname" },
    owner = { required = true, description = "who the machine belongs to" },
  },
  run = function(ctx)
    local p = ctx.params
    local img = ctx:open(p.input)
    img:mount()
    ctx:step("identity", function()
      img:set_hostname(p.hostname)
      img:write_file("/etc/motd", motd.text(p.hostname, p.owner))
    end)
    ctx:step("hardening", function()
      hardening.apply(img, {
        ssh = { password_authentication = true, permit_root_login = "prohibit-password", port = 2222 },
        sysctl = { ["net.ipv4.ip_forward"] = 1 },
      })
    end)
    img:save(p.output, p.format)
  end,
}
