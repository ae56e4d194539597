#include "host/exec/image_devices.hpp"

#include <string>

#include "host/disk/probe.hpp"

namespace imgrecipe {

namespace {

// Link names must stay single path components under /dev/disk/by-*.
void add_link(ChrootDevice& d, const char* dir, const std::string& id) {
  if (!id.empty() && id.find('/') == std::string::npos && id != "." && id != "..") {
    d.links.push_back(std::string("disk/") + dir + "/" + id);
  }
}

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

std::vector<ChrootDevice> image_devices(const OsMount& os) {
  std::vector<ChrootDevice> out;
  for (const auto& m : os.mounts()) {
    if (m.device.empty()) continue;
    // Named after the partition; the loop device's own name is only a link
    // (canonicalised away), because Debian's grub-mkconfig treats
    // /dev/loopN roots as loop-AES devices and needs losetup for them.
    ChrootDevice d{m.device, "imgrecipe-part" + std::to_string(m.partition), {}};
    d.links.push_back(base_name(m.device));
    for (const auto& p : os.partitions()) {
      if (p.part.number != m.partition) continue;
      add_link(d, "by-uuid", p.fs.uuid);
      add_link(d, "by-label", p.fs.label);
      add_link(d, "by-partuuid", p.part.uuid);  // already lower case, as udev spells GUIDs
      add_link(d, "by-partlabel", p.part.label);
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<ChrootDevice> disk_devices(const WholeDisk& disk) {
  std::vector<ChrootDevice> out;
  out.push_back(ChrootDevice{disk.device(), "imgrecipe-disk", {base_name(disk.device())}});
  for (const auto& p : disk.table().partitions) {
    std::string dev = disk.partition_device(p.number);
    // Same naming as image_devices: not /dev/loopNpM itself (Debian's
    // grub-mkconfig takes loop roots for loop-AES devices).
    ChrootDevice d{dev, "imgrecipe-part" + std::to_string(p.number), {base_name(dev)}};
    FsInfo fs = probe_filesystem(dev);
    add_link(d, "by-uuid", fs.uuid);
    add_link(d, "by-label", fs.label);
    add_link(d, "by-partuuid", p.uuid);
    add_link(d, "by-partlabel", p.label);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace imgrecipe
