-- imgrecipe.squashfs and imgrecipe.iso from Lua: argument errors name the
-- field, and small host trees go through squashfs and a plain ISO and back.
local squashfs = require "imgrecipe.squashfs"
local iso = require "imgrecipe.iso"

local function tmpdir()
  local p = assert(io.popen("mktemp -d /tmp/imgrecipe-lua-iso.XXXXXX")):read("*l")
  return p
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function find(list, path)
  for _, e in ipairs(list) do
    if e.path == path then return e end
  end
end

return {
  test_argument_errors = function(t)
    t:raises(function() iso.write("/tmp/x.iso", { volume_id = 3 }) end, "spec.volume_id")
    t:raises(function() iso.write("/tmp/x.iso", { volume_id = "X", tree = "/tmp", files = { { source = 1, path = "/a" } } }) end,
      "spec.files[1].source: expected a string, got number")
    t:raises(function() iso.write("/tmp/x.iso", { volume_id = "X", tree = "/tmp", files = { "/a" } }) end,
      "iso.write: files[1]: expected an option table, got string")
    t:raises(function() iso.write("/tmp/x.iso", { volume_id = "X", tree = "/tmp", bios = {} }) end, "ISO bios.image is empty")
    t:raises(function() iso.write("/tmp/x.iso", { volume_id = "X", tree = "/tmp", timestamp = -1 }) end, "spec.timestamp")
    t:raises(function() squashfs.create("/tmp", "/tmp/x.sqfs", { exclude = "proc" }) end, "opts.exclude: expected a list of strings")
    t:raises(function() squashfs.create("/tmp", "/tmp/x.sqfs", { exclude = { 1 } }) end, "opts.exclude[1]: expected a string")
    t:raises(function() squashfs.create("/tmp", "/tmp/x.sqfs", { compression = "brotli" }) end, "not one of gzip")
    t:raises(function() squashfs.create({}, "/tmp/x.sqfs") end, "expected an Image, a Disk or a directory path")
    t:raises(function() squashfs.create("/tmp", "/tmp/x.sqfs", { durable = "no" }) end, "opts.durable")
    t:raises(function() iso.grub_image("/tmp/x.img", { target = "arm" }) end, "not bios-eltorito or x86_64-efi")
  end,

  test_round_trip = function(t)
    local d = tmpdir()
    os.execute("mkdir -p " .. d .. "/tree/etc " .. d .. "/media")
    write(d .. "/tree/etc/hostname", "lua-test\n")
    write(d .. "/media/readme", "hello\n")
    squashfs.create(d .. "/tree", d .. "/out/root.sqfs", { timestamp = 0, level = 1 })
    local e = find(squashfs.list(d .. "/out/root.sqfs"), "/etc/hostname")
    t:ok(e)
    t:eq(e.size, 9)
    t:eq(e.mtime, "1970-01-01 00:00")
    squashfs.extract(d .. "/out/root.sqfs", d .. "/x", { paths = { "/etc" } })
    t:eq(assert(io.open(d .. "/x/etc/hostname")):read("*a"), "lua-test\n")
    -- An intermediate (no fsync) is the same image, renamed into place, no temporary left.
    squashfs.create(d .. "/tree", d .. "/out/inter.sqfs", { timestamp = 0, level = 1, durable = false })
    t:eq(assert(io.popen("cmp " .. d .. "/out/root.sqfs " .. d .. "/out/inter.sqfs && echo same")):read("*l"), "same")
    t:eq(assert(io.popen("ls -A " .. d .. "/out | grep -c tmp")):read("*l"), "0")
    os.remove(d .. "/out/inter.sqfs")

    iso.write(d .. "/out/data.iso", { volume_id = "LUA_DATA", tree = d .. "/media",
      files = { { source = d .. "/out/root.sqfs", path = "/LiveOS/squashfs.img" } } })
    t:eq(iso.volume_id(d .. "/out/data.iso"), "LUA_DATA")
    t:eq(find(iso.list(d .. "/out/data.iso"), "/readme").size, 6)
    t:eq(iso.read_file(d .. "/out/data.iso", "/readme", d), "hello\n")
    local r = iso.boot_report(d .. "/out/data.iso")
    t:eq(#r.entries, 0)
    t:raises(function() iso.write(d .. "/out/root.sqfs", { volume_id = "X", tree = d .. "/media",
      files = { { source = d .. "/out/root.sqfs", path = "/x" } } }) end, "it is the input image")
    os.execute("rm -rf " .. d)
  end,
}
