-- A server image: an admin account that logs in with its SSH key only, root
-- and password logins refused, kernel hardening settings.
--
--   imgrecipe run examples/hardened-server/recipe.lua --lib-path examples/lib \
--     --param input=base.qcow2 --param output=server.raw --param admin_key="$(cat ~/.ssh/id_ed25519.pub)"
local hardening = require "hardening"

return {
  name = "hardened-server",
  description = "Key-only SSH for one admin account, root login refused, kernel hardening",
  api = 1,
  params = {
    input = { required = true, description = "the base image" },
    output = { required = true, description = "the image to write" },
    format = { default = "raw", description = "raw, qcow2, vhd, vhd-fixed or vhdx" },
    admin = { default = "admin", description = "the account allowed to log in over SSH" },
    admin_key = { required = true, description = "its SSH public key" },
  },
  run = function(ctx)
    local p = ctx.params
    local img = ctx:open(p.input)
    img:mount()
    ctx:step("admin account", function()
      img:add_user({ name = p.admin, ssh_public_keys = { p.admin_key }, startup_command = "/bin/bash" })
    end)
    ctx:step("hardening", function()
      hardening.apply(img, {
        ssh = { allow_users = { p.admin } },
        banner = "Authorized access only. Activity is logged.",
      })
    end)
    img:save(p.output, p.format)
  end,
}
