-- imgrecipe.kmodules: the text edits of modules-load.d and modprobe.d files.
local modules = require "imgrecipe.kmodules"

return {
  test_is_disabled_matches_whole_lines_only = function(t)
    local text = "# blacklist foo\nblacklist foobar\nblacklist  bar \n"
    t:eq(modules.is_disabled(text, "foo"), false)
    t:eq(modules.is_disabled(text, "foobar"), true)
    t:eq(modules.is_disabled(text, "bar"), true)
    t:eq(modules.is_disabled(nil, "bar"), false)
  end,
  test_without_blacklist_keeps_other_lines = function(t)
    local text = "# keep me\nblacklist foo\nblacklist foobar\ninstall foo /bin/false\n"
    t:eq(modules.without_blacklist(text, "foo"), "# keep me\nblacklist foobar\ninstall foo /bin/false\n")
    t:eq(modules.without_blacklist(text, "absent"), text)
    t:eq(modules.without_blacklist(nil, "foo"), nil)
  end,
  test_with_lines_appends_missing_once = function(t)
    t:eq(modules.with_lines(nil, { "a", "b", "a" }), "a\nb\n")
    t:eq(modules.with_lines("a", { "a", "c" }), "a\nc\n")
    t:eq(modules.with_lines("# x\nb\n", { "b" }), "# x\nb\n")
  end,
  test_with_options_updates_in_place_and_appends = function(t)
    local text = "# comment\noptions foo a=1 b=2\noptions other x=1\n"
    local out = modules.with_options(text, {
      { name = "foo", options = { b = "9", c = "3" } },
      { name = "new", options = { z = "1", y = "2" } },
    })
    t:eq(out, "# comment\noptions foo a=1 b=9 c=3\noptions other x=1\noptions new y=2 z=1\n")
  end,
  test_with_options_on_missing_file = function(t)
    t:eq(modules.with_options(nil, { { name = "m", options = { k = "v" } } }), "options m k=v\n")
  end,
}
