--param input=in.raw
--param output=out.raw
--param config_dir=/cfg
--param format=qcow2
-- The customization of tests/integration/test_lua_recipe.sh's YAML config,
-- written as a Lua recipe.
local imgrecipe = require "imgrecipe"

return {
  name = "same-as-yaml",
  description = "hostname, files, kernel args and scripts, like the YAML test config",
  api = 1,
  params = {
    input = { required = true },
    output = { required = true },
    format = { default = "raw" },
    config_dir = { required = true, description = "directory with files/ and scripts/" },
  },
  run = function(ctx)
    local p = ctx.params
    local img = ctx:open(p.input)
    img:mount()
    ctx:step("hostname", function() img:set_hostname("built-host") end)
    ctx:step("additional files", function()
      img:write_file("/etc/secret.conf", "secret content\n", { mode = "0600" })
      img:copy_file(p.config_dir .. "/files/copied.txt", "/opt/data/copied.txt")
      img:write_file("/boot/efi/EFI/BOOT/extra.txt", "on the esp")
    end)
    ctx:step("kernel command line", function()
      img:append_kernel_args({ "imgrecipe.extra=yes", "console=ttyS0" })
    end)
    ctx:step("postCustomization: scripts/post.sh", function()
      img:run_script({ path = "scripts/post.sh", arguments = { "one", "two" }, env = { GREETING = "hello" } },
        p.config_dir)
    end)
    ctx:step("finalizeCustomization", function()
      img:run_script({ content = "echo finalized > /etc/finalize-marker\n" })
    end)
    ctx:step("write output", function() img:save(p.output, p.format) end)
    imgrecipe.log.info("done: %s", p.output)
  end,
}
