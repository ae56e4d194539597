// The devices of a mounted image as a chroot run sees them: each mounted
// partition's loop device as /dev/imgrecipe-part<N>, linked from its loop
// name and from the /dev/disk/by-* names udev would create.
#pragma once

#include <vector>

#include "host/disk/whole_disk.hpp"
#include "host/exec/chroot.hpp"
#include "host/fs/os_mount.hpp"

namespace imgrecipe {

std::vector<ChrootDevice> image_devices(const OsMount& os);

// Every partition of a whole-disk device (a new disk's layout) the same
// way, with the filesystem ids probed now, plus the whole disk itself as
// /dev/imgrecipe-disk (linked from its loop name) for boot loader installs.
std::vector<ChrootDevice> disk_devices(const WholeDisk& disk);

}  // namespace imgrecipe
