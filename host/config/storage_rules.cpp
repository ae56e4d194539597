#include "host/config/storage_rules.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "host/config/checks.hpp"
#include "host/security/names.hpp"

namespace imgrecipe::config {
namespace {

constexpr unsigned long long kMiB = 1024 * 1024;

std::string_view str(const Node& o, std::string_view key) {
  const Node* n = o.find(key);
  return n ? std::string_view(n->str) : std::string_view();
}

std::string mib(unsigned long long bytes) {
  if (bytes % (1024 * kMiB) == 0) return fmt::format("{}G", bytes / (1024 * kMiB));
  return fmt::format("{}M", bytes / kMiB);
}

class StorageRules {
 public:
  StorageRules(const Node& storage, Problems& p) : storage_(storage), p_(p) {}

  void run() {
    const Node* disks = storage_.find("disks");
    if (disks && !disks->items.empty()) {
      partitions_ = disks->items[0].find("partitions");
      geometry(disks->items[0]);
    }
    ids();
    filesystems();
    boot_partitions();
    verity_mounts();
  }

 private:
  // Disk layout (ALIC disk.go): start defaults, overlaps, grow, GPT areas, maxSize.
  void geometry(const Node& disk) {
    if (!partitions_) return;
    const std::string base = "storage.disks[0].partitions";
    const auto& items = partitions_->items;
    std::optional<unsigned long long> prev_end = kMiB;  // the first partition starts after the GPT header
    std::string prev_id;
    bool prev_grows = false;
    for (size_t i = 0; i < items.size(); ++i) {
      const Node& part = items[i];
      const std::string path = fmt::format("{}[{}]", base, i);
      const std::string id(str(part, "id"));
      const Node* start_node = part.find("start");
      std::optional<unsigned long long> start;
      if (start_node) {
        start = checks::size_bytes(start_node->str);
      } else if (prev_end) {
        start = *prev_end;
      } else if (!prev_grows) {  // a grow in the middle is reported once, below
        p_.add(part.mark, path,
               fmt::format("partition ({}) omitted start value but previous partition ({}) has no size or end value", id,
                           prev_id));
      }
      if (start && *start < kMiB) {
        p_.add(start_node->mark, path + ".start", "the first 1 MiB of the disk is reserved for the GPT header");
      } else if (start && start_node && prev_end && *start < *prev_end && i > 0) {
        p_.add(start_node->mark, path + ".start",
               fmt::format("partition ({}) overlaps the previous partition ({}), which ends at {}", id, prev_id,
                           mib(*prev_end)));
      }
      if (str(part, "type") == "bios-grub" && start && *start != kMiB) {
        p_.add(start_node ? start_node->mark : part.mark, path, "the BIOS boot partition must start at 1 MiB");
      }
      std::string_view size = str(part, "size");
      const Node* end_node = part.find("end");
      std::optional<unsigned long long> end;
      if (end_node) {
        end = checks::size_bytes(end_node->str);
      } else if (size == "grow") {
        if (i + 1 != items.size()) {
          p_.add(part.find("size")->mark, path + ".size",
                 fmt::format("partition ({}) is not the last partition but its size is set to grow", id));
        }
      } else if (!size.empty() && start) {
        end = *start + checks::size_bytes(size);
      }
      prev_end = end;
      prev_id = id;
      prev_grows = size == "grow";
    }
    const Node* max_size = disk.find("maxSize");
    if (!items.empty() && !prev_end && !max_size) {
      p_.add(disk.mark, "storage.disks[0]",
             "either the disk must specify maxSize or the last partition must have an end or size value");
    }
    if (max_size && prev_end) {
      unsigned long long need = *prev_end + kMiB;  // the backup GPT takes the last 1 MiB
      unsigned long long have = checks::size_bytes(max_size->str);
      if (need > have) {
        p_.add(max_size->mark, "storage.disks[0].maxSize",
               fmt::format("the disk's partitions need {} but maxSize is only {}: the GPT footer takes 1 MiB", mib(need),
                           max_size->str));
      }
    }
  }

  // Partition and verity ids share one namespace; labels must be unique.
  void ids() {
    std::map<std::string, int> labels;
    if (partitions_) {
      for (size_t i = 0; i < partitions_->items.size(); ++i) {
        const Node& part = partitions_->items[i];
        add_id(part.find("id"), fmt::format("storage.disks[0].partitions[{}].id", i), true);
        if (const Node* label = part.find("label"); label && !label->str.empty()) {
          auto [it, inserted] = labels.emplace(label->str, label->mark.line);
          if (!inserted) {
            p_.add(label->mark, fmt::format("storage.disks[0].partitions[{}].label", i),
                   fmt::format("more than one partition has the label '{}' (also at line {})", names::shown(label->str), it->second));
          }
        }
      }
    }
    if (const Node* verity = storage_.find("verity")) {
      for (size_t i = 0; i < verity->items.size(); ++i) {
        add_id(verity->items[i].find("id"), fmt::format("storage.verity[{}].id", i), false);
        verity_refs(verity->items[i], fmt::format("storage.verity[{}]", i));
      }
    }
  }

  void add_id(const Node* id, const std::string& path, bool partition) {
    if (!id || id->str.empty()) return;
    auto [it, inserted] = devices_.emplace(id->str, Device{partition, id->mark.line});
    if (!inserted) {
      p_.add(id->mark, path, fmt::format("duplicate id '{}' (also at line {})", names::shown(id->str), it->second.line));
    }
  }

  // dataDeviceId/hashDeviceId name partitions of the new layout.
  void verity_refs(const Node& v, const std::string& path) {
    for (std::string_view key : {"dataDeviceId", "hashDeviceId"}) {
      const Node* ref = v.find(key);
      if (!ref || ref->str.empty() || !partitions_) continue;
      const std::string ref_path = fmt::format("{}.{}", path, key);
      auto device = devices_.find(ref->str);
      if (device == devices_.end() || !device->second.partition) {
        p_.add(ref->mark, ref_path, fmt::format("partition '{}' not found in storage.disks[0].partitions", names::shown(ref->str)));
      }
      use(ref->str, ref->mark, path, ref_path);
    }
  }

  // Each device is used by one filesystem or one verity device, except that
  // inline verity names the same partition as its data and hash device.
  // `owner` is the object using it, `path` the field naming it.
  void use(const std::string& id, Mark mark, const std::string& owner, const std::string& path) {
    auto [it, inserted] = users_.emplace(id, User{owner, path});
    if (!inserted && it->second.owner != owner) {
      p_.add(mark, path, fmt::format("device '{}' is used by more than one thing (also by {})", names::shown(id), it->second.path));
    }
  }

  void filesystems() {
    const Node* list = storage_.find("filesystems");
    if (!list) return;
    std::map<std::string, int> mount_paths;
    for (size_t i = 0; i < list->items.size(); ++i) {
      const Node& fs = list->items[i];
      const std::string path = fmt::format("storage.filesystems[{}]", i);
      const Node* device = fs.find("deviceId");
      if (device && !device->str.empty()) {
        if (!devices_.contains(device->str)) {
          p_.add(device->mark, path + ".deviceId",
                 fmt::format("device '{}' not found: no partition or verity device has this id", names::shown(device->str)));
        } else {
          use(device->str, device->mark, path, path + ".deviceId");
        }
      }
      for (const Node* mp : mount_points(fs)) {
        const Node* mpath = mp->find("path");
        if (!mpath) continue;
        auto [it, inserted] = mount_paths.emplace(mpath->str, mpath->mark.line);
        if (!inserted) {
          p_.add(mpath->mark, path + ".mountPoint.path",
                 fmt::format("duplicate mount path '{}' (also at line {})", names::shown(mpath->str), it->second));
        }
        if (str(*mp, "idType") == "part-label" && device && partitions_) {
          for (const Node& part : partitions_->items) {
            if (str(part, "id") == device->str && str(part, "label").empty()) {
              p_.add(mp->find("idType")->mark, path + ".mountPoint.idType",
                     fmt::format("idType is set to 'part-label' but partition '{}' has no label", names::shown(device->str)));
            }
          }
        }
      }
    }
  }

  static std::vector<const Node*> mount_points(const Node& fs) {
    std::vector<const Node*> out;
    if (const Node* mp = fs.find("mountPoint")) out.push_back(mp);
    if (const Node* btrfs = fs.find("btrfs")) {
      if (const Node* subs = btrfs->find("subvolumes")) {
        for (const Node& s : subs->items) {
          if (const Node* mp = s.find("mountPoint")) out.push_back(mp);
        }
      }
    }
    return out;
  }

  const Node* filesystem_of(std::string_view id, size_t* index) const {
    const Node* list = storage_.find("filesystems");
    if (!list) return nullptr;
    for (size_t i = 0; i < list->items.size(); ++i) {
      if (str(list->items[i], "deviceId") == id) {
        *index = i;
        return &list->items[i];
      }
    }
    return nullptr;
  }

  void boot_partitions() {
    bool esp = false, bios = false;
    static const Node kNone;
    for (const Node& part : (partitions_ ? *partitions_ : kNone).items) {
      std::string_view type = str(part, "type");
      size_t i = 0;
      const Node* fs = filesystem_of(str(part, "id"), &i);
      const std::string fs_path = fmt::format("storage.filesystems[{}]", i);
      if (type == "esp") {
        esp = true;
        if (!fs) continue;
        std::string_view fs_type = str(*fs, "type");
        if (fs_type != "fat32" && fs_type != "vfat") {
          p_.add(fs->find("type") ? fs->find("type")->mark : fs->mark, fs_path + ".type",
                 "the ESP partition must have the 'fat32' or 'vfat' filesystem type");
        }
        const Node* mp = fs->find("mountPoint");
        if (mp && str(*mp, "path") != "/boot/efi") {
          p_.add(mp->find("path")->mark, fs_path + ".mountPoint.path", "the ESP partition must be mounted at /boot/efi");
        }
      } else if (type == "bios-grub") {
        bios = true;
        if (fs && !str(*fs, "type").empty()) {
          p_.add(fs->find("type")->mark, fs_path + ".type", "the BIOS boot partition must not have a filesystem type");
        }
        if (fs && fs->find("mountPoint")) {
          p_.add(fs->find("mountPoint")->key_mark, fs_path + ".mountPoint",
                 "the BIOS boot partition must not have a mountPoint");
        }
      }
    }
    const Node* boot_type = storage_.find("bootType");
    if (!boot_type) return;
    if (boot_type->str == "efi" && !esp) {
      p_.add(boot_type->mark, "storage.bootType", "an 'esp' partition must be provided for the 'efi' boot type");
    }
    if (boot_type->str == "legacy" && !bios) {
      p_.add(boot_type->mark, "storage.bootType", "a 'bios-grub' partition must be provided for the 'legacy' boot type");
    }
  }

  // ALIC's ValidateVerityMounts: only / and /usr, named after their mount,
  // read-only, mounted by the /dev/mapper name (so no idType).
  void verity_mounts() {
    const Node* verity = storage_.find("verity");
    if (!verity) return;
    // The root hash goes into grub.cfg after hashing: with root verity,
    // /boot must be its own partition, not hashed data.
    bool root_verity = false;
    for (const Node& v : verity->items) {
      if (str(v, "name") == "root") root_verity = true;
    }
    // /usr verity alone leaves grub.cfg on the writable root (ALIC accepts it).
    if (root_verity && storage_.find("disks")) {
      bool boot = false;
      if (const Node* list = storage_.find("filesystems")) {
        for (const Node& fs : list->items) {
          const Node* mp = fs.find("mountPoint");
          if (mp && str(*mp, "path") == "/boot") boot = true;
        }
      }
      if (!boot) {
        p_.add(verity->mark, "storage.verity",
               "verity needs a separate '/boot' partition (a filesystem mounted at /boot): grub.cfg holds the root hash");
      }
    }
    for (size_t j = 0; j < verity->items.size(); ++j) {
      const Node& v = verity->items[j];
      size_t i = 0;
      const Node* fs = filesystem_of(str(v, "id"), &i);
      if (!fs) continue;
      const std::string fs_path = fmt::format("storage.filesystems[{}]", i);
      const Node* mp = fs->find("mountPoint");
      if (!mp) continue;
      std::string_view at = str(*mp, "path"), name = str(v, "name");
      if (at != "/" && at != "/usr") {
        p_.add(mp->find("path")->mark, fs_path + ".mountPoint.path",
               fmt::format("the mount path of verity device '{}' must be '/' or '/usr'", str(v, "id")));
      } else if ((at == "/" && name != "root") || (at == "/usr" && name != "usr")) {
        p_.add(v.find("name")->mark, fmt::format("storage.verity[{}].name", j),
               fmt::format("verity name '{}' must match its mount path: 'root' for '/', 'usr' for '/usr'", name));
      }
      std::string options = "," + std::string(str(*mp, "options")) + ",";
      if (options.find(",ro,") == std::string::npos) {
        p_.add(mp->mark, fs_path + ".mountPoint.options", "a verity device's mount must include the 'ro' mount option");
      }
      if (const Node* id_type = mp->find("idType"); id_type && !id_type->str.empty()) {
        p_.add(id_type->mark, fs_path + ".mountPoint.idType", "the filesystem of a verity device may not set 'mountPoint.idType'");
      }
    }
  }

  struct Device {
    bool partition;  // else a verity device
    int line;
  };
  struct User {
    std::string owner, path;
  };

  const Node& storage_;
  Problems& p_;
  const Node* partitions_ = nullptr;
  std::map<std::string, Device> devices_;
  std::map<std::string, User> users_;  // id -> its first user
};

}  // namespace

void storage_layout_rules(const Node& root, Problems& problems) {
  if (const Node* storage = root.find("storage")) StorageRules(*storage, problems).run();
}

}  // namespace imgrecipe::config
