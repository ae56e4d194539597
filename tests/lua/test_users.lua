-- imgrecipe.users: account file parsing and the login-shell edit.
local users = require "imgrecipe.users"

local passwd = "root:x:0:0:root:/root:/bin/bash\nrootless:x:1000:1000::/home/rootless:/bin/sh\n"

-- An image that records commands and file writes; no account is touched
-- when a name is refused.
local function fake_image()
  local img = { ran = {}, wrote = {} }
  function img:read_file(path)
    if path == "/etc/passwd" then return passwd end
    if path == "/etc/group" then return "root:x:0:\n" end
    return nil
  end
  function img:run(argv) self.ran[#self.ran + 1] = table.concat(argv, " ") end
  function img:write_file(path) self.wrote[#self.wrote + 1] = path end
  function img:_root() error("no host access in this test") end
  return img
end

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
  test_add_user_refuses_bad_names_before_anything_runs = function(t)
    local img = fake_image()
    t:raises(function() users.add_user(img, { name = "../../root", ssh_public_keys = { "ssh-ed25519 AAAA x" } }) end,
      "invalid user name '../../root': must not contain '/'")
    t:raises(function() users.add_user(img, { name = "a\nb" }) end, "invalid user name 'a\\nb': must not contain a newline")
    t:raises(function() users.add_user(img, { name = "-o" }) end, "must not start with '-'")
    t:raises(function() users.add_user(img, { name = "" }) end, "invalid user name '': must not be empty")
    t:raises(function() users.add_user(img, { name = "1000" }) end, "must not be all digits")
    t:raises(function() users.add_user(img, { name = "ok", primary_group = "a:b" }) end,
      "invalid group name 'a:b': must not contain ':'")
    t:raises(function() users.add_user(img, { name = "ok", secondary_groups = { "wheel", "a,b" } }) end,
      "invalid group name 'a,b': must not contain ','")
    t:raises(function() users.add_group(img, { name = ".." }) end, "invalid group name '..': must not be '.' or '..'")
    t:raises(function() users.add_group(img, { name = "a b" }) end, "must not contain a space")
    t:eq(#img.ran, 0, "no command ran")
    t:eq(#img.wrote, 0, "no file written")
  end,
  test_add_user_accepts_useradd_names = function(t)
    local img = fake_image()
    t:eq(users.add_user(img, { name = "svc.Backup_1-x$", secondary_groups = { "wheel" } }), true)
    t:eq(img.ran[1], "useradd -m -- svc.Backup_1-x$")
    t:eq(users.add_group(img, { name = "_apt" }), true)
    t:eq(img.ran[#img.ran], "groupadd -- _apt")
  end,
}
