-- imgrecipe.host.names, and the environment check of exec.chroot: a bad
-- name is refused before any command runs.
local names = require "imgrecipe.host.names"
local exec = require "imgrecipe.host.exec"

return {
  test_checks_return_the_reason_or_nil = function(t)
    t:eq(names.account_name("alice"), nil)
    t:eq(names.account_name("../../root"),
      "must not contain '/' (allowed: letters, digits, '_', '.', '-', and '$' at the end)")
    t:eq(names.env_name("MY_VAR"), nil)
    t:eq(names.env_name("A=B"), "must not contain '=' (allowed: letters, digits and '_')")
    t:eq(names.kernel_argument("quiet"), nil)
    t:eq(names.kernel_argument("a\nb"), "must not contain a newline")
    t:eq(names.shown(string.rep("x", 150)), string.rep("x", 100) .. "… (150 bytes)")
  end,
  test_chroot_env_names_are_checked_before_running = function(t)
    -- An empty root: without the check, the command would fail to start;
    -- with it, the env error comes before anything is set up.
    local root = os.tmpname()
    os.remove(root)
    assert(os.execute("mkdir -m 0700 " .. root) == 0)
    local argv = { "/nonexistent-command" }
    t:raises(function() exec.chroot(root, argv, { env = { ["A=B"] = "x" } }) end,
      "env: invalid environment variable name 'A=B': must not contain '='")
    t:raises(function() exec.chroot(root, argv, { env = { [""] = "x" } }) end,
      "env: invalid environment variable name '': must not be empty")
    t:raises(function() exec.chroot(root, argv, { env = { ["1X"] = "x" } }) end, "must not start with a digit")
    t:raises(function() exec.chroot(root, argv, { env = { X = "a\0b" } }) end, "env: value of X: must not contain a NUL byte")
    assert(os.execute("rmdir " .. root) == 0, "nothing was created in the root")
  end,
}
