-- imgrecipe.users: account file parsing and the login-shell edit.
local users = require "imgrecipe.users"

local passwd = "root:x:0:0:root:/root:/bin/bash\nrootless:x:1000:1000::/home/rootless:/bin/sh\n"

return {
  test_find_entry_matches_the_exact_name = function(t)
    local e = users.find_entry(passwd, "rootless")
    t:eq(e[3], "1000")
    t:eq(e[6], "/home/rootless")
    t:eq(users.find_entry(passwd, "roo"), nil)
    t:eq(users.find_entry(nil, "root"), nil)
  end,
  test_with_shell_changes_one_line = function(t)
    t:eq(users.with_shell(passwd, "root", "/usr/bin/zsh"),
      "root:x:0:0:root:/root:/usr/bin/zsh\nrootless:x:1000:1000::/home/rootless:/bin/sh\n")
    t:eq(users.with_shell(passwd, "rootless", "/sbin/nologin"),
      "root:x:0:0:root:/root:/bin/bash\nrootless:x:1000:1000::/home/rootless:/sbin/nologin\n")
  end,
  test_with_shell_rejects_bad_input = function(t)
    t:raises(function() users.with_shell(passwd, "nobody", "/bin/sh") end, "user 'nobody' not found")
    t:raises(function() users.with_shell(passwd, "root", "/bin/sh:x") end, "must not contain ':'")
  end,
}
