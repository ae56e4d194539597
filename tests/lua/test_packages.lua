-- imgrecipe.packages: spec checks that need no image.
local packages = require "imgrecipe.packages"

return {
  test_needs_sources = function(t)
    t:eq(packages.needs_sources({ remove = { "a" } }), false)
    t:eq(packages.needs_sources({ install = { "a" } }), true)
    t:eq(packages.needs_sources({ update = { "a" } }), true)
    t:eq(packages.needs_sources({ update_existing = true }), true)
    t:eq(packages.needs_sources({}), false)
  end,
  test_unknown_field_is_rejected_before_touching_the_image = function(t)
    t:raises(function() packages.transaction({}, { instal = { "a" } }) end,
      "packages.transaction: unknown option 'instal' (did you mean 'install'?")
  end,
  test_field_types_are_checked = function(t)
    t:raises(function() packages.transaction({}, { install = "a" }) end, "packages.install")
    t:raises(function() packages.transaction({}, { update_existing = "yes" }) end, "packages.update_existing")
  end,
  test_image_methods_exist = function(t)
    local Image = require("imgrecipe.image").Image
    for _, m in ipairs({ "packages", "remove_package_manager", "package_manager", "package_installed" }) do
      t:eq(type(Image[m]), "function", m)
    end
  end,
}
