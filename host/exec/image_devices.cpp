#include "host/exec/image_devices.hpp"

#include <string>

namespace imgrecipe {

std::vector<ChrootDevice> image_devices(const OsMount& os) {
  std::vector<ChrootDevice> out;
  for (const auto& m : os.mounts()) {
    if (m.device.empty()) continue;
    // Named after the partition; the loop device's own name is only a link
    // (canonicalised away), because Debian's grub-mkconfig treats
    // /dev/loopN roots as loop-AES devices and needs losetup for them.
    ChrootDevice d{m.device, "imgrecipe-part" + std::to_string(m.partition), {}};
    d.links.push_back(m.device.substr(m.device.rfind('/') + 1));
    for (const auto& p : os.partitions()) {
      if (p.part.number != m.partition) continue;
      // Link names must stay single path components under /dev/disk/by-*.
      auto add = [&](const char* dir, const std::string& id) {
        if (!id.empty() && id.find('/') == std::string::npos && id != "." && id != "..") {
          d.links.push_back(std::string("disk/") + dir + "/" + id);
        }
      };
      add("by-uuid", p.fs.uuid);
      add("by-label", p.fs.label);
      add("by-partuuid", p.part.uuid);  // already lower case, as udev spells GUIDs
      add("by-partlabel", p.part.label);
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace imgrecipe
