-- imgrecipe.disk and imgrecipe.host.storage without root: sizes, argument
-- errors (usage, naming the argument), a partition table written and read
-- back, fstab text from a layout, the disk file removed on release.
local disk = require "imgrecipe.disk"
local storage = require "imgrecipe.host.storage"
local sys = require "imgrecipe.host.sys"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p) == 0)
  sys.set_build_dir(p) -- disk.create keeps its working files in the build directory
  return p
end

-- The error raised by fn (it must raise).
local function err_of(fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error")
  return e
end

local function usage(t, fn, needle)
  local e = err_of(fn)
  t:eq(type(e), "table", "structured error")
  t:eq(e.kind, "usage", "kind of " .. tostring(e.message))
  t:ok(tostring(e):find(needle, 1, true), string.format("%q does not contain %q", tostring(e), needle))
end

local ROOT = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"

return {
  test_parse_size = function(t)
    t:eq(disk.parse_size("s", 4096), 4096)
    t:eq(disk.parse_size("s", "8M"), 8 * 1024 * 1024)
    t:eq(disk.parse_size("s", "3G"), 3 * 1024 ^ 3)
    t:eq(disk.parse_size("s", "3GiB"), 3 * 1024 ^ 3)
    t:eq(disk.parse_size("s", "512"), 512)
    usage(t, function() disk.parse_size("opts.size", "3 gigabytes") end, "opts.size: invalid size '3 gigabytes'")
    usage(t, function() disk.parse_size("size", 1.5) end, "size: expected a whole number")
    usage(t, function() disk.parse_size("size", true) end, "size: expected a size")
  end,

  test_binding_argument_errors_are_usage_errors_naming_the_argument = function(t)
    local dir = tmpdir()
    usage(t, function() storage.create_disk(42, 1024) end, "path: expected a string, got number")
    usage(t, function() storage.create_disk(dir .. "/x", "1G") end, "size: expected a number, got string")
    usage(t, function() storage.create_disk(dir .. "/x", 1024, 5) end, "opts: expected a table")
    local f = storage.create_disk(dir .. "/d.raw", 16 * 1024 * 1024)
    usage(t, function() storage.create_disk(dir .. "/d.raw", 1024) end, "exists")
    usage(t, function() storage.partition(f, { partitions = { { size = "8M" } } }) end,
      "layout.partitions[1].size: expected a number, got string")
    usage(t, function() storage.partition(f, { partitions = { 7 } }) end,
      "layout.partitions[1]: expected a table, got number")
    usage(t, function() storage.partition(f, { table = "apm", partitions = {} }) end,
      "layout.table: unknown partition table type 'apm'")
    usage(t, function() storage.partition(f, { partitions = { { size = 1, grow = "yes" } } }) end,
      "layout.partitions[1].grow: expected a boolean")
    usage(t, function() storage.partition(f, { partitions = {} }) end, "layout.partitions: expected at least one")
    usage(t, function() storage.partition(f, "gpt") end, "layout: expected a table, got string")
    -- Nothing that writes takes a host path: only handles made in this run.
    usage(t, function() storage.partition(dir .. "/d.raw", { partitions = { {} } }) end,
      "disk: expected a disk file made by create_disk, got string")
    usage(t, function() storage.attach("/dev/vda") end, "disk: expected a disk file made by create_disk")
    usage(t, function() storage.mkfs("/dev/vda1", 1, { type = "ext4" }) end, "disk: expected an attached disk, got string")
    usage(t, function() storage.mount_map(dir .. "/r", dir .. "/w", { { path = "/", device = "/dev/vda1" } }) end,
      "mount_map.mounts[1].disk: expected an attached disk")
    usage(t, function() storage.mount_map(dir .. "/r", dir .. "/w", { { device = "/dev/vda1" } }) end,
      "mount_map.mounts[1].path: required")
    usage(t, function() storage.mount_map("/var/tmp/imgrecipe-not-in-build-dir", dir .. "/w", {}) end,
      "is outside the build directory")
    t:eq(sys.kind("/var/tmp/imgrecipe-not-in-build-dir"), nil)
    usage(t, function() storage.copy_os({}, "/x") end, "source: expected a mounted root")
    usage(t, function() storage.copy_os(dir, "/") end, "dest: expected a mount_map, got string")
    usage(t, function() storage.fstab({ { mount_point = "/" } }) end, "fstab.entries[1].type: required")
    usage(t, function() storage.fstab({ { type = "ext4", mount_point = "/", id_type = "label" } }) end, "label")
    usage(t, function() storage.fstab("x") end, "entries: expected a table, got string")
    f:release()
    t:eq(sys.kind(dir .. "/d.raw"), nil, "an unkept disk file is removed on release")
    usage(t, function() storage.partition(f, { partitions = { {} } }) end, "disk: the disk file was released")
    usage(t, function() storage.create_disk("/var/tmp/imgrecipe-not-in-build-dir/d.raw", 1024, { overwrite = true }) end,
      "is outside the build directory")
    local outside = os.tmpname() -- a host file outside the build directory
    local h = assert(io.open(outside, "w"))
    h:write("host data\n")
    h:close()
    usage(t, function() storage.create_disk(outside, 1024, { overwrite = true }) end, "is outside the build directory")
    h = assert(io.open(outside))
    t:eq(h:read("*a"), "host data\n", "a host file outside the build directory is never replaced")
    h:close()
    os.remove(outside)
    local kept = storage.create_disk(dir .. "/kept.raw", 1024 * 1024)
    kept:keep()
    kept:release()
    t:eq(sys.kind(dir .. "/kept.raw"), "file", "a kept disk file stays")
    os.execute("rm -rf " .. dir)
  end,

  test_partition_and_fstab_from_a_layout = function(t)
    local dir = tmpdir()
    local d = disk.create(dir .. "/d.raw", "64M")
    t:eq(sys.kind(dir .. "/d.raw"), "file")
    local parts = d:partition {
      table = "gpt",
      partitions = {
        { id = "esp", type = "esp", size = "8M", label = "EFI" },
        { id = "root", type = "root", size = "24M", uuid = "11111111-2222-4333-8444-555555555555" },
        { id = "var", type = "var", size = "grow" },
      },
    }
    t:eq(#parts, 3)
    t:eq(parts[1].id, "esp")
    t:eq(parts[1].label, "EFI")
    t:eq(parts[1].start, 1024 * 1024)
    t:eq(parts[2].uuid:upper(), "11111111-2222-4333-8444-555555555555")
    t:eq(parts[2].type:upper(), ROOT)
    t:eq(parts[3].start, 33 * 1024 * 1024)
    t:eq(parts[3].size, 30 * 1024 * 1024) -- the last MiB holds the backup GPT
    local back = storage.read_table(dir .. "/d.raw")
    t:eq(back.table, "gpt")
    t:eq(back.partitions[3].uuid, parts[3].uuid)

    local text = d:fstab_text {
      id_type = "part-uuid",
      entries = {
        { partition = "var", mount_point = "/var", type = "xfs", options = "noatime" },
        { partition = 2, mount_point = "/", type = "ext4" },
        { partition = "esp", mount_point = "/boot/efi", type = "vfat", id_type = "part-label" },
      },
    }
    t:eq(text, "# /etc/fstab: written by imgrecipe from the storage layout\n" ..
      "PARTUUID=" .. parts[2].uuid .. " / ext4 defaults 0 1\n" ..
      "PARTLABEL=EFI /boot/efi vfat defaults 0 2\n" ..
      "PARTUUID=" .. parts[3].uuid .. " /var xfs noatime 0 2\n")
    usage(t, function() d:fstab_text { entries = { { partition = "boot", type = "ext4" } } } end,
      "no partition with id 'boot'")
    usage(t, function() d:fstab_text { entries = { { partition = 2, mount_point = "/" } } } end,
      "partition 2 has no filesystem")
    usage(t, function() d:partition { partitions = { { id = "a", size = "1M" }, { id = "a", size = "1M" } } } end,
      "layout.partitions[2].id: 'a' is used twice")
    usage(t, function() d:partition { partitions = { { id = "a", sizee = "1M" } } } end,
      "disk:partition: partitions[1]: unknown option 'sizee' (did you mean 'size'?")
    usage(t, function() d:partition { tabel = "gpt", partitions = {} } end,
      "disk:partition: unknown option 'tabel' (did you mean 'table'?")
    d:release()
    t:eq(sys.kind(dir .. "/d.raw"), nil, "the disk file is removed on release")
    os.execute("rm -rf " .. dir)
  end,

  test_disk_files_stay_in_the_build_directory = function(t)
    local dir = tmpdir()
    usage(t, function() disk.create("/var/tmp/imgrecipe-not-in-build-dir/d.raw", "16M") end,
      "is outside the build directory")
    t:eq(sys.kind("/var/tmp/imgrecipe-not-in-build-dir"), nil)
    os.execute("rm -rf " .. dir)
  end,

  test_a_layout_that_does_not_fit_names_the_partition = function(t)
    local dir = tmpdir()
    local d = disk.create(dir .. "/d.raw", "16M")
    usage(t, function() d:partition { partitions = { { id = "root", size = "16M" } } } end, "partition 'root'")
    d:release()
    os.execute("rm -rf " .. dir)
  end,
}
