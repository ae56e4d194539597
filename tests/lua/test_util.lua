-- imgrecipe.util and the recipe contract checks.
local util = require "imgrecipe.util"

return {
  test_join_and_dirname = function(t)
    t:eq(util.join("/a/b", "c.txt"), "/a/b/c.txt")
    t:eq(util.join("/a/b/", "c"), "/a/b/c")
    t:eq(util.join("/a", "/abs"), "/abs")
    t:eq(util.dirname("/a/b/c.yaml"), "/a/b")
    t:eq(util.dirname("/c.yaml"), "/")
    t:eq(util.dirname("c.yaml"), ".")
  end,
  test_mode = function(t)
    t:eq(util.mode("0644"), 420)
    t:eq(util.mode("600"), 384)
    t:eq(util.mode(493), 493)
    t:raises(function() util.mode("0999") end, "invalid mode '0999'")
  end,
  test_validate_messages = function(t)
    t:raises(function() util.validate("size", nil, "number") end, "argument 'size': expected number, got nil")
    t:raises(function() util.validate("x", 1, { "string", "table" }) end, "expected string|table, got number")
    util.validate("opt", nil, "table", true)
  end,
  test_shell_quote = function(t)
    t:eq(util.shell_quote("plain-word_1.txt"), "plain-word_1.txt")
    t:eq(util.shell_quote("it's here"), "'it'\\''s here'")
  end,
  test_image_api_requires_mount = function(t)
    local image = require "imgrecipe.image"
    local img = setmetatable({ raw = "/nonexistent" }, image.Image)
    t:raises(function() img:write_file("/etc/x", "y") end, "the image is not mounted")
  end,
  test_api_version = function(t)
    t:eq(require("imgrecipe").api_version, 1)
  end,
}
