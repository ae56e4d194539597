// The devices of a mounted image as a chroot run sees them: each mounted
// partition's loop device as /dev/imgrecipe-part<N>, linked from its loop
// name and from the /dev/disk/by-* names udev would create.
#pragma once

#include <vector>

#include "host/exec/chroot.hpp"
#include "host/fs/os_mount.hpp"

namespace imgrecipe {

std::vector<ChrootDevice> image_devices(const OsMount& os);

}  // namespace imgrecipe
