-- imgrecipe.artifacts.export on the Debian base image with UKIs placed on
-- its ESP as the uki branch does (EFI/Linux/vmlinuz-<kver>.efi, with an
-- addon directory), a file that is not a UKI, and verity root hashes (one
-- with a hash signature path, one without): params input, dir (artifacts
-- output directory).
local artifacts = require "imgrecipe.artifacts"

return {
  name = "artifacts-test",
  params = { input = { required = true }, dir = { required = true } },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount()
    img:write_file("/boot/efi/EFI/Linux/vmlinuz-6.1.0-test.efi", "UKI-MAIN\n")
    img:write_file("/boot/efi/EFI/Linux/vmlinuz-6.1.0-test.efi.extra.d/b.addon.efi", "ADDON-B\n")
    img:write_file("/boot/efi/EFI/Linux/vmlinuz-6.1.0-test.efi.extra.d/a.addon.efi", "ADDON-A\n")
    img:write_file("/boot/efi/EFI/Linux/other.efi", "NOT-A-UKI\n")
    artifacts.export(img, ctx.params.dir, { "ukis", "shim", "verity-hash" }, {
      verity = {
        { name = "root", root_hash = string.rep("ab", 32), hash_signature_path = "/boot/root.hash" },
        { name = "usr", root_hash = string.rep("cd", 32) },
      },
    })
    img:close()
  end,
}
