-- Reports which packages are installed in an image (one "name=true|false"
-- line each) through the stdlib, exercising a repeatable list parameter.
-- The working copy is mounted writable (commands run in it) but never saved.
return {
  name = "packages-query",
  params = {
    input = { required = true },
    report = { required = true },
    name = { list = true, description = "package names (repeat --param name=...)" },
  },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount()
    local lines = { "manager=" .. img:package_manager() }
    for _, n in ipairs(ctx.params.name) do
      lines[#lines + 1] = n .. "=" .. tostring(img:package_installed(n))
    end
    local f = assert(io.open(ctx.params.report, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
  end,
}
