// Rules spanning the fields of one object (ALIC reference §5). They run only
// on objects whose fields all typed cleanly, so fields hold valid values.
#include <map>

#include <fmt/format.h>

#include "host/config/checks.hpp"
#include "host/security/names.hpp"

namespace imgrecipe::config::checks {
namespace {

std::string_view str(const Node& o, std::string_view key) {
  const Node* n = o.find(key);
  return n && n->kind == Node::Kind::String ? std::string_view(n->str) : std::string_view();
}

bool has(const Node& o, std::string_view key) { return o.find(key) != nullptr; }

size_t count(const Node& o, std::string_view key) {
  const Node* n = o.find(key);
  return n ? n->items.size() : 0;
}

// Go's strings.HasPrefix(b+"/", a+"/") for distinct a and b, trailing '/' ignored.
bool is_subdir(std::string_view a, std::string_view b) {
  auto norm = [](std::string_view s) {
    std::string out(s);
    if (!out.empty() && out.back() == '/') out.pop_back();
    return out + "/";
  };
  std::string na = norm(a), nb = norm(b);
  return na != nb && nb.rfind(na, 0) == 0;
}

void exactly_one(const Node& o, const std::string& path, Problems& p, std::string_view a, bool has_a,
                 std::string_view b, bool has_b) {
  if (!has_a && !has_b) p.add(o.mark, path, fmt::format("one of '{}' or '{}' is required", a, b));
  if (has_a && has_b) p.add(o.mark, path, fmt::format("'{}' and '{}' cannot both be set", a, b));
}

void no_subvol_options(const Node& mount_point, const std::string& path, Problems& p) {
  const Node* options = mount_point.find("options");
  if (!options) return;
  size_t start = 0;
  while (start <= options->str.size()) {
    size_t end = options->str.find(',', start);
    if (end == std::string::npos) end = options->str.size();
    std::string_view opt = std::string_view(options->str).substr(start, end - start);
    if (opt.starts_with("subvol=") || opt.starts_with("subvolid=")) {
      p.add(options->mark, path + ".options",
            fmt::format("'{}' is not allowed: imgrecipe adds 'subvol=' itself", opt.substr(0, opt.find('=') + 1)));
    }
    start = end + 1;
  }
}

// Reports items of `list` whose `key` repeats an earlier item's.
void unique_in_list(const Node& list, const std::string& list_path, std::string_view key, std::string_view what,
                    Problems& p) {
  std::map<std::string, int> seen;
  for (size_t i = 0; i < list.items.size(); ++i) {
    const Node* v = list.items[i].find(key);
    if (!v) continue;
    auto [it, inserted] = seen.emplace(v->str, v->mark.line);
    if (!inserted) {
      p.add(v->mark, fmt::format("{}[{}].{}", list_path, i, key),
            fmt::format("duplicate {} '{}' (also at line {})", what, names::shown(v->str), it->second));
    }
  }
}

}  // namespace

void additional_file(const Node& o, const std::string& path, Problems& p) {
  // An empty 'content' is a valid empty file; an empty 'source' is no source.
  exactly_one(o, path, p, "source", !str(o, "source").empty(), "content", has(o, "content"));
}

void script(const Node& o, const std::string& path, Problems& p) {
  exactly_one(o, path, p, "path", !str(o, "path").empty(), "content", !str(o, "content").empty());
  if (const Node* env = o.find("environmentVariables")) {
    for (const auto& [key, value] : env->fields) {
      if (auto why = names::env_name(key)) {
        p.add(value.key_mark, fmt::format("{}.environmentVariables.{}", path, names::shown(key)),
              fmt::format("invalid environment variable name '{}': {}", names::shown(key), *why));
      }
    }
  }
}

void password(const Node& o, const std::string& path, Problems& p) {
  std::string_view type = str(o, "type"), value = str(o, "value");
  if (type == "locked" && !value.empty()) {
    p.add(o.find("value")->mark, path + ".value", "must be empty when the password type is 'locked'");
  } else if (type != "locked" && value.empty()) {
    p.add(o.mark, path, fmt::format("'value' is required when the password type is '{}'", type));
  }
}

void module(const Node& o, const std::string& path, Problems& p) {
  const Node* options = o.find("options");
  if (!options) return;
  for (const auto& [key, value] : options->fields) {
    if (key.empty()) {
      p.add(value.key_mark, path + ".options", "option names must not be empty");
    } else if (key.find_first_of(" \n") != std::string::npos) {
      p.add(value.key_mark, fmt::format("{}.options.{}", path, key),
            fmt::format("invalid option name '{}': must not contain spaces or newlines", names::shown(key)));
    }
  }
}

void os(const Node& o, const std::string& path, Problems& p) {
  if (const Node* modules = o.find("modules")) unique_in_list(*modules, path + ".modules", "name", "module", p);
  if (const Node* overlays = o.find("overlays")) {
    unique_in_list(*overlays, path + ".overlays", "mountPoint", "overlay mountPoint", p);
    unique_in_list(*overlays, path + ".overlays", "upperDir", "overlay upperDir", p);
    unique_in_list(*overlays, path + ".overlays", "workDir", "overlay workDir", p);
  }
}

void overlay(const Node& o, const std::string& path, Problems& p) {
  std::string_view upper = str(o, "upperDir"), work = str(o, "workDir");
  if (upper == work) {
    p.add(o.find("workDir")->mark, path + ".workDir", fmt::format("must differ from upperDir ('{}')", names::shown(upper)));
  } else if (is_subdir(work, upper)) {
    p.add(o.find("upperDir")->mark, path + ".upperDir", fmt::format("must not be inside workDir ('{}')", names::shown(work)));
  } else if (is_subdir(upper, work)) {
    p.add(o.find("workDir")->mark, path + ".workDir", fmt::format("must not be inside upperDir ('{}')", names::shown(upper)));
  }
}

void filesystem(const Node& o, const std::string& path, Problems& p) {
  std::string_view type = str(o, "type");
  const Node* btrfs = o.find("btrfs");
  const Node* mount_point = o.find("mountPoint");
  if (btrfs && type != "btrfs") {
    p.add(btrfs->key_mark, path + ".btrfs", "only allowed on filesystems of type 'btrfs'");
  }
  if (btrfs && mount_point && count(*btrfs, "subvolumes") > 0) {
    p.add(mount_point->key_mark, path + ".mountPoint", "cannot be set when 'btrfs.subvolumes' is not empty");
  }
  if (mount_point && type.empty()) {
    p.add(mount_point->key_mark, path + ".mountPoint", "a filesystem with a 'mountPoint' needs a 'type'");
  }
  if (mount_point && type == "btrfs") no_subvol_options(*mount_point, path + ".mountPoint", p);
}

void btrfs(const Node& o, const std::string& path, Problems& p) {
  const Node* subvolumes = o.find("subvolumes");
  if (!subvolumes) return;
  const std::string list_path = path + ".subvolumes";
  unique_in_list(*subvolumes, list_path, "path", "subvolume path", p);
  // A subvolume nested inside another must not be mounted above it.
  const auto& items = subvolumes->items;
  for (size_t i = 0; i < items.size(); ++i) {
    const Node* mount_a = items[i].find("mountPoint");
    if (!mount_a) continue;
    for (size_t j = 0; j < items.size(); ++j) {
      const Node* mount_b = items[j].find("mountPoint");
      if (i == j || !mount_b) continue;
      std::string_view sub_a = str(items[i], "path"), sub_b = str(items[j], "path");
      std::string_view at_a = str(*mount_a, "path"), at_b = str(*mount_b, "path");
      if (is_subdir(sub_a, sub_b) && is_subdir(at_b, at_a)) {
        p.add(mount_b->mark, fmt::format("{}[{}].mountPoint", list_path, j),
              fmt::format("subvolume '{}' is inside '{}' but mounted above it ('{}' vs '{}'), a mount loop",
                          sub_b, sub_a, at_b, at_a));
      }
    }
  }
}

void subvolume(const Node& o, const std::string& path, Problems& p) {
  if (const Node* mount_point = o.find("mountPoint")) no_subvol_options(*mount_point, path + ".mountPoint", p);
}

void verity(const Node& o, const std::string& path, Problems& p) {
  bool data_id = !str(o, "dataDeviceId").empty(), hash_id = !str(o, "hashDeviceId").empty();
  bool data_dev = has(o, "dataDevice"), hash_dev = has(o, "hashDevice");
  exactly_one(o, path, p, "dataDeviceId", data_id, "dataDevice", data_dev);
  exactly_one(o, path, p, "hashDeviceId", hash_id, "hashDevice", hash_dev);
  if ((data_id || hash_id) && (data_dev || hash_dev)) {
    p.add(o.mark, path, "cannot mix 'dataDeviceId'/'hashDeviceId' with 'dataDevice'/'hashDevice'");
  }
}

void partition(const Node& o, const std::string& path, Problems& p) {
  const Node* end = o.find("end");
  std::string_view size = str(o, "size");
  if (end && !size.empty()) p.add(end->key_mark, path, "cannot set both 'end' and 'size'");
  const Node* start = o.find("start");
  if (start && end && size_bytes(start->str) >= size_bytes(end->str)) {
    p.add(end->mark, path + ".end", fmt::format("must be after start ({})", start->str));
  }
}

void storage(const Node& o, const std::string& path, Problems& p) {
  const Node* disks = o.find("disks");
  const bool has_disks = disks && !disks->items.empty();
  if (disks && disks->items.size() > 1) {
    p.add(disks->items[1].mark, path + ".disks[1]", "more than one disk is not supported");
  }
  if (const Node* reset = o.find("resetPartitionsUuidsType"); reset && !reset->str.empty() && has_disks) {
    p.add(reset->key_mark, path + ".resetPartitionsUuidsType", "cannot be combined with 'disks'");
  }
  const Node* boot_type = o.find("bootType");
  const bool has_boot_type = boot_type && !boot_type->str.empty();
  if (has_disks && !has_boot_type) p.add(disks->key_mark, path + ".disks", "'bootType' is required with 'disks'");
  if (has_boot_type && !has_disks) p.add(boot_type->key_mark, path + ".bootType", "requires 'disks'");
  if (const Node* filesystems = o.find("filesystems"); filesystems && !filesystems->items.empty() && !has_disks) {
    p.add(filesystems->key_mark, path + ".filesystems", "requires 'disks'");
  }
  const Node* verity = o.find("verity");
  if (!verity) return;
  bool uses_ids = false, uses_devices = false;
  for (const Node& v : verity->items) {
    uses_ids = uses_ids || !str(v, "dataDeviceId").empty() || !str(v, "hashDeviceId").empty();
    uses_devices = uses_devices || has(v, "dataDevice") || has(v, "hashDevice");
  }
  const std::string verity_path = path + ".verity";
  if (uses_ids && uses_devices) {
    p.add(verity->key_mark, verity_path, "cannot mix 'dataDeviceId'/'hashDeviceId' with 'dataDevice'/'hashDevice'");
  } else if (uses_ids && !has_disks) {
    p.add(verity->key_mark, verity_path, "cannot specify 'verity' with dataDeviceId/hashDeviceId without specifying 'disks' "
          "(they name partitions of the new layout; use dataDevice/hashDevice for partitions the image already has)");
  } else if (uses_devices && has_disks) {
    p.add(verity->key_mark, verity_path, "cannot specify both 'verity' with dataDevice/hashDevice and 'disks' "
          "(dataDevice/hashDevice name partitions the input image already has)");
  }
}

void input_image(const Node& o, const std::string& path, Problems& p) {
  int sources = (!str(o, "path").empty() ? 1 : 0) + (has(o, "oci") ? 1 : 0) + (has(o, "azureLinux") ? 1 : 0);
  if (sources > 1) p.add(o.mark, path, "only one of 'path', 'oci' and 'azureLinux' may be set");
}

void pxe(const Node& o, const std::string& path, Problems& p) {
  bool base = !str(o, "bootstrapBaseUrl").empty(), file = !str(o, "bootstrapFileUrl").empty();
  if (str(o, "initramfsType") == "full-os" && (base || file)) {
    p.add(o.mark, path, "'bootstrapBaseUrl' and 'bootstrapFileUrl' cannot be used with initramfsType 'full-os'");
  }
  if (base && file) p.add(o.mark, path, "'bootstrapBaseUrl' and 'bootstrapFileUrl' cannot both be set");
}

void artifacts(const Node& o, const std::string& path, Problems& p) {
  if (count(o, "items") == 0) p.add(o.mark, path + ".items", "must list at least one artifact");
}

}  // namespace imgrecipe::config::checks
