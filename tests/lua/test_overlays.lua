-- imgrecipe.overlays: fstab lines as ALIC writes them, and the checks.
local overlays = require "imgrecipe.overlays"

local fstab = overlays.parse_fstab([[
# /etc/fstab
PARTUUID=1 / ext4 defaults 0 1
PARTUUID=2 /var ext4 defaults,x-initrd.mount 0 2
PARTUUID=3 /srv ext4 defaults 0 2
PARTUUID=4 /with\040space ext4 defaults 0 2
]])

return {
  test_parse_fstab = function(t)
    t:eq(#fstab, 4)
    t:eq(fstab[2].target, "/var")
    t:eq(fstab[2].options, "defaults,x-initrd.mount")
    t:eq(fstab[4].target, "/with space")
  end,
  test_plain_overlay = function(t)
    t:eq(overlays.fstab_line({ mount_point = "/media", lower_dirs = { "/media", "/home" },
                               upper_dir = "/overlays/media/upper", work_dir = "/overlays/media/work" }, fstab),
      "overlay /media overlay lowerdir=/media:/home,upperdir=/overlays/media/upper,workdir=/overlays/media/work 0 0")
  end,
  test_initrd_overlay_gets_sysroot_and_systemd_options = function(t)
    t:eq(overlays.fstab_line({ mount_point = "/etc", lower_dirs = { "/etc" }, upper_dir = "/var/overlays/etc/upper",
                               work_dir = "/var/overlays/etc/work", initrd = true, mount_dependencies = { "/var" },
                               mount_options = "noatime" }, fstab),
      "overlay /etc overlay lowerdir=/sysroot/etc,upperdir=/sysroot/var/overlays/etc/upper,"
        .. "workdir=/sysroot/var/overlays/etc/work,x-systemd.requires=/sysroot/var,"
        .. "x-initrd.mount,x-systemd.wanted-by=initrd-fs.target,noatime 0 0")
  end,
  test_plain_overlay_dependency_needs_no_initrd_mount = function(t)
    t:eq(overlays.fstab_line({ mount_point = "/m", lower_dirs = { "/m" }, upper_dir = "/srv/u", work_dir = "/srv/w",
                               mount_dependencies = { "/srv" } }, fstab),
      "overlay /m overlay lowerdir=/m,upperdir=/srv/u,workdir=/srv/w,x-systemd.requires=/srv 0 0")
  end,
  test_initrd_dependency_must_be_an_initrd_mount = function(t)
    t:raises(function()
      overlays.fstab_line({ mount_point = "/etc", lower_dirs = { "/etc" }, upper_dir = "/srv/u", work_dir = "/srv/w",
                            initrd = true, mount_dependencies = { "/srv" } }, fstab)
    end, "mount dependency /srv needs the x-initrd.mount option")
    t:raises(function()
      overlays.fstab_line({ mount_point = "/etc", lower_dirs = { "/etc" }, upper_dir = "/srv/u", work_dir = "/srv/w",
                            initrd = true, mount_dependencies = { "/data" } }, fstab)
    end, "mount dependency /data is not in /etc/fstab")
  end,
  test_checks = function(t)
    local base = function() return { mount_point = "/m", lower_dirs = { "/m" }, upper_dir = "/u", work_dir = "/w" } end
    local ov = base(); ov.work_dir = "/u/work"
    t:raises(function() overlays.check(ov) end, "must be apart")
    ov = base(); ov.upper_dir = "relative"
    t:raises(function() overlays.check(ov) end, "must be an absolute path")
    ov = base(); ov.lower_dirs = {}
    t:raises(function() overlays.check(ov) end, "at least one lower directory")
    ov = base(); ov.mountpoint = "/x"
    t:raises(function() overlays.check(ov) end, "unknown field 'mountpoint'")
    ov = base(); ov.initrd = "yes"
    t:raises(function() overlays.check(ov) end, "initrd")
  end,
}
