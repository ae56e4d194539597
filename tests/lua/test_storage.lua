-- The pure parts of imgrecipe.storage (the YAML storage section) and
-- imgrecipe.diskboot: mount points, disk sizes, root= by id type, the ESP's
-- stub config.
local storage = require "imgrecipe.storage"
local diskboot = require "imgrecipe.diskboot"
local uuids = require "imgrecipe.uuids"

local MIB = 1024 * 1024

local function err_of(fn)
  local ok, e = pcall(fn)
  assert(not ok, "expected an error")
  return e
end

return {
  test_mount_point_forms = function(t)
    local s = storage.mount_point({ mountPoint = "/" })
    t:eq(s.path, "/")
    t:eq(s.id_type, "part-uuid", "scalar form: PARTUUID by default")
    local o = storage.mount_point({ mountPoint = { path = "/var", idType = "part-label", options = "noatime" } })
    t:eq(o.path .. " " .. o.id_type .. " " .. o.options, "/var part-label noatime")
    t:eq(storage.mount_point({ mountPoint = { path = "/x" } }).id_type, "part-uuid")
    t:eq(storage.mount_point({}), nil, "no mount point")
  end,
  test_disk_size = function(t)
    t:eq(storage.disk_size({ maxSize = "4G" }), 4096 * MIB, "maxSize wins")
    t:eq(storage.disk_size({ partitions = { { size = "8M" }, { size = "100M" } } }), (1 + 108 + 1) * MIB,
      "1 MiB table + partitions + 1 MiB backup GPT")
    t:eq(storage.disk_size({ partitions = { { start = "2M", ["end"] = "10M" } } }), 11 * MIB, "from the last end")
    local e = err_of(function() storage.disk_size({ partitions = { { size = "grow" } } }) end)
    t:eq(e.kind, "usage")
    t:ok(tostring(e):find("maxSize", 1, true), tostring(e))
  end,
  test_root_id_type = function(t)
    t:eq(storage.root_id_type({ filesystems = { { deviceId = "r", mountPoint = { path = "/", idType = "uuid" } } } }),
      "uuid")
    t:eq(storage.root_id_type({ filesystems = { { deviceId = "r", mountPoint = "/" } } }), "part-uuid")
  end,
  test_root_arg = function(t)
    local part = { id = "root", uuid = "0fc63daf-8483-4772-8e79-3d69d8477de4", label = "root-a" }
    local fs = { uuid = "11111111-2222-3333-4444-555555555555" }
    t:eq(diskboot.root_arg(part, fs), "root=PARTUUID=0fc63daf-8483-4772-8e79-3d69d8477de4")
    t:eq(diskboot.root_arg(part, fs, "uuid"), "root=UUID=11111111-2222-3333-4444-555555555555")
    t:eq(diskboot.root_arg(part, fs, "part-label"), "root=PARTLABEL=root-a")
    local e = err_of(function() diskboot.root_arg({ id = "root", uuid = "x" }, fs, "part-label") end)
    t:eq(e.kind, "usage")
    t:ok(tostring(e):find("no label", 1, true), tostring(e))
    e = err_of(function() diskboot.root_arg(part, fs, "label") end)
    t:ok(tostring(e):find("root_id_type", 1, true), tostring(e))
  end,
  test_stub_config = function(t)
    t:eq(diskboot.stub_config("abcd", "/boot/grub"),
      "search --no-floppy --fs-uuid --set=root abcd\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n")
  end,
  test_rewrite_fstab = function(t)
    local changes = {
      { number = 1, old_partuuid = "aaaa-1", new_partuuid = "bbbb-1", fstype = "vfat", old_uuid = "A605-E701", new_uuid = "1234-ABCD" },
      { number = 2, old_partuuid = "aaaa-2", new_partuuid = "bbbb-2", fstype = "ext4", old_uuid = "13fc", new_uuid = "99ff" },
      { number = 3, old_partuuid = "AAAA-3", new_partuuid = "bbbb-3", fstype = "", old_uuid = "", new_uuid = "" },
    }
    local text = "# UUID=13fc in a comment\nUUID=13FC /  ext4 defaults 0 1\nUUID=a605-e701\t/boot/efi vfat umask=0077 0 1\n"
      .. "PARTUUID=aaaa-3 /data xfs defaults 0 2\nPARTLABEL=x /x ext4 defaults 0 2\nUUID=other /o ext4 defaults 0 2"
    local new, n = uuids.rewrite_fstab(text, changes)
    t:eq(n, 3)
    t:eq(new, "# UUID=13fc in a comment\nUUID=99ff /  ext4 defaults 0 1\nUUID=1234-ABCD\t/boot/efi vfat umask=0077 0 1\n"
      .. "PARTUUID=bbbb-3 /data xfs defaults 0 2\nPARTLABEL=x /x ext4 defaults 0 2\nUUID=other /o ext4 defaults 0 2")
  end,
}
