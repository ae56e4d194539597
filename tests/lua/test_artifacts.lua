-- imgrecipe.artifacts: item checks and the inject-files.yaml text (Go
-- yaml.v3's formatting, as ALIC writes it).
local artifacts = require "imgrecipe.artifacts"

return {

  test_items = function(t)
  artifacts.check_items({ "ukis", "shim", "bootloader", "verity-hash" })
  t:raises(function() artifacts.check_items({}) end, "'items' and 'path' must both be specified")
  t:raises(function() artifacts.check_items({ "ukis", "uki-addons" }) end, "uki-addons are automatically included with ukis")
  t:raises(function() artifacts.check_items({ "grub" }) end, "invalid item value (grub)")
  end,

  test_inject_files_yaml = function(t)
  local text = artifacts.inject_files_yaml({
    { partition = { idType = "part-uuid", id = "9216e49d-f26f-453b-89cb-c6bf5b7e5394" },
      destination = "/EFI/BOOT/bootx64.efi", source = "./shim/bootx64.efi", type = "shim" },
    { partition = { idType = "part-label", id = "123" }, destination = "/a b: c", source = "./x", type = "ukis" },
    { partition = { idType = "uuid", id = "1e5" }, destination = "/true", source = "./y", type = "verity-hash" },
  })
  t:eq(text, table.concat({
    "injectFiles:",
    "    - partition:",
    "        idType: part-uuid",
    "        id: 9216e49d-f26f-453b-89cb-c6bf5b7e5394",
    "      destination: /EFI/BOOT/bootx64.efi",
    "      source: ./shim/bootx64.efi",
    "      type: shim",
    "    - partition:",
    "        idType: part-label",
    '        id: "123"',
    '      destination: "/a b: c"',
    "      source: ./x",
    "      type: ukis",
    "    - partition:",
    "        idType: uuid",
    '        id: "1e5"',
    "      destination: /true",
    "      source: ./y",
    "      type: verity-hash",
    "previewFeatures:",
    "    - inject-files",
    "" }, "\n"))
  t:eq(artifacts.inject_files_yaml({}), "injectFiles: []\npreviewFeatures:\n    - inject-files\n")
  end,
}
