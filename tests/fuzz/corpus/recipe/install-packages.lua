-- Installs Debian packages into an image (apt-get in the image): test
-- fixtures that need more than the base image ships.
return {
  name = "install-packages",
  params = {
    input = { required = true }, output = { required = true },
    packages = { required = true, description = "space-separated package names" },
  },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount()
    ctx:step("apt-get", function()
      img:run("apt-get update -q && apt-get install -q -y --no-install-recommends " .. ctx.params.packages
        .. " && apt-get clean", { quiet = true })
    end)
    img:save(ctx.params.output, "raw")
  end,
}
