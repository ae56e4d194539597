#include "host/inspect/disk.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "host/disk/partition_probe.hpp"
#include "host/disk/probe.hpp"
#include "host/fs/mount.hpp"
#include "host/system/error.hpp"
#include "host/system/process.hpp"

namespace imgrecipe::inspect {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<std::uint64_t> number_after(const std::string& text, const std::string& key) {
  auto at = text.find("\n" + key);
  if (at == std::string::npos) return std::nullopt;
  try {
    return std::stoull(text.substr(text.find_first_not_of(' ', at + key.size() + 1)));
  } catch (...) {
    return std::nullopt;
  }
}

// Size and used bytes of an ext filesystem from its superblock (dumpe2fs -h).
void ext_usage(const std::string& disk, FsEntry& fs) {
  RunOptions o;
  o.capture_stdout = true;
  o.output_level = log::Level::Trace;
  RunResult r = run({"dumpe2fs", "-h", disk + "?offset=" + std::to_string(fs.offset)}, o);
  if (r.exit_code != 0) return;
  std::string t = "\n" + r.out;
  auto blocks = number_after(t, "Block count:"), free_blocks = number_after(t, "Free blocks:"),
       bsize = number_after(t, "Block size:");
  if (!blocks || !free_blocks || !bsize) return;
  fs.size = *blocks * *bsize;
  fs.used = (*blocks - *free_blocks) * *bsize;
}

// Used bytes of a FAT filesystem: its size less mdir's "N bytes free" (the
// FATs and root directory count as used).
void fat_usage(const std::string& disk, FsEntry& fs) {
  if (!fs.size) return;
  RunOptions o;
  o.capture_stdout = true;
  o.output_level = log::Level::Trace;
  o.env = std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "MTOOLS_SKIP_CHECK=1", "LC_ALL=C"};
  RunResult r = run({"mdir", "-i", disk + "@@" + std::to_string(fs.offset), "::/"}, o);
  auto at = r.out.rfind(" bytes free");
  if (r.exit_code != 0 || at == std::string::npos) return;
  auto line = r.out.rfind('\n', at);
  std::string digits;
  for (size_t i = line == std::string::npos ? 0 : line + 1; i < at; ++i)
    if (std::isdigit(static_cast<unsigned char>(r.out[i]))) digits += r.out[i];
  if (digits.empty()) return;
  std::uint64_t free_bytes = std::stoull(digits);
  if (free_bytes <= *fs.size) fs.used = *fs.size - free_bytes;
}

bool is_ext(const std::string& t) { return t == "ext2" || t == "ext3" || t == "ext4"; }

std::unique_ptr<Tree> open_tree(const std::string& disk, FsEntry& fs, const std::string& mount_dir,
                                std::uint64_t size) {
  if (is_ext(fs.type)) return ext_tree(disk, fs.offset);
  if (fs.type == "vfat") return fat_tree(disk, fs.offset);
  if (fs.type.empty()) fs.note = "no filesystem";
  else if (fs.type == "swap" || fs.type == "DM_verity_hash") fs.note = "no files";
  else if ((fs.type == "xfs" || fs.type == "btrfs") && !mount_dir.empty()) {
    if (!kernel_supports_filesystem(fs.type)) {
      fs.note = fs.type + " files are not read: the kernel cannot mount " + fs.type;
      return nullptr;
    }
    std::string dir = mount_dir + "/fs-" + std::to_string(fs.partition);
    auto tree = mounted_tree(disk, fs.offset, size, fs.type, dir);
    struct statvfs v;
    if (::statvfs(dir.c_str(), &v) == 0) {
      fs.size = std::uint64_t(v.f_blocks) * v.f_frsize;
      fs.used = std::uint64_t(v.f_blocks - v.f_bfree) * v.f_frsize;
    }
    return tree;
  } else if (fs.type == "xfs" || fs.type == "btrfs") {
    fs.note = fs.type + " files are not read: that needs a read-only mount, which needs root";
  } else {
    fs.note = fs.type + " files are not read (ext2/3/4, vfat and squashfs are read without mounting; xfs and btrfs "
              "by a read-only mount as root)";
  }
  return nullptr;
}

struct FstabLine {
  std::string spec, mount_point;
};

std::vector<FstabLine> parse_fstab(const std::string& text) {
  std::vector<FstabLine> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string l = text.substr(pos, end - pos);
    pos = end + 1;
    auto b = l.find_first_not_of(" \t");
    if (b == std::string::npos || l[b] == '#') continue;
    std::vector<std::string> f;
    size_t i = b;
    while (i < l.size() && f.size() < 2) {
      size_t e = l.find_first_of(" \t", i);
      if (e == std::string::npos) e = l.size();
      f.push_back(l.substr(i, e - i));
      i = l.find_first_not_of(" \t", e);
      if (i == std::string::npos) break;
    }
    if (f.size() == 2) out.push_back({f[0], f[1]});
  }
  return out;
}

// The filesystem an fstab source names, by UUID, LABEL, PARTUUID, PARTLABEL
// or their /dev/disk/by-* links.
FsEntry* find_source(const std::string& spec, DiskInfo& info) {
  std::string key, value;
  static const std::pair<const char*, const char*> kForms[] = {
      {"UUID=", "uuid"}, {"LABEL=", "label"}, {"PARTUUID=", "partuuid"}, {"PARTLABEL=", "partlabel"},
      {"/dev/disk/by-uuid/", "uuid"}, {"/dev/disk/by-label/", "label"}, {"/dev/disk/by-partuuid/", "partuuid"},
      {"/dev/disk/by-partlabel/", "partlabel"}};
  for (const auto& [prefix, k] : kForms) {
    if (spec.rfind(prefix, 0) == 0) {
      key = k;
      value = spec.substr(std::string(prefix).size());
      if (value.size() >= 2 && value[0] == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      break;
    }
  }
  if (key.empty()) return nullptr;
  for (auto& fs : info.filesystems) {
    const Partition* p = nullptr;
    if (info.table)
      for (const auto& q : info.table->partitions)
        if (q.number == fs.partition) p = &q;
    if ((key == "uuid" && !fs.uuid.empty() && lower(fs.uuid) == lower(value)) || (key == "label" && fs.label == value) ||
        (key == "partuuid" && p && lower(p->uuid) == lower(value)) || (key == "partlabel" && p && p->label == value))
      return &fs;
  }
  return nullptr;
}

}  // namespace

DiskInfo read_disk(const std::string& disk) {
  DiskInfo info;
  try {
    info.table = read_partition_table(disk);
  } catch (const Error&) {
    // No partition table: a filesystem over the whole disk, or nothing.
  }
  if (info.table) {
    for (const auto& dp : probe_partitions(disk, *info.table)) {
      FsEntry fs;
      fs.partition = dp.part.number;
      fs.type = dp.fs.type;
      fs.label = dp.fs.label;
      fs.uuid = dp.fs.uuid;
      fs.offset = dp.part.start;
      fs.size = dp.part.size;
      info.filesystems.push_back(fs);
    }
  } else {
    FsInfo f = probe_filesystem(disk);
    FsEntry fs;
    fs.type = f.type;
    fs.label = f.label;
    fs.uuid = f.uuid;
    info.filesystems.push_back(fs);
  }
  for (auto& fs : info.filesystems) {
    if (is_ext(fs.type)) ext_usage(disk, fs);
    else if (fs.type == "vfat") fat_usage(disk, fs);
  }
  return info;
}

void assemble(const std::string& disk, DiskInfo& info, std::vector<std::unique_ptr<Tree>>& trees, View& view,
              std::vector<std::string>& notes, const std::string& mount_dir) {
  std::map<FsEntry*, Tree*> open;
  FsEntry* root = nullptr;
  for (auto& fs : info.filesystems) {
    std::uint64_t size = 0;  // the partition's; 0 (to the end) for a whole-disk filesystem
    if (info.table)
      for (const auto& p : info.table->partitions)
        if (p.number == fs.partition) size = p.size;
    auto t = open_tree(disk, fs, mount_dir, size);
    if (!t) continue;
    Tree* tree = t.get();
    trees.push_back(std::move(t));
    open[&fs] = tree;
    if (!root && tree->lstat("/etc").kind == Stat::Kind::Dir &&
        (tree->lstat("/etc/os-release").kind != Stat::Kind::None ||
         tree->lstat("/usr/lib/os-release").kind != Stat::Kind::None))
      root = &fs;
  }
  if (!root) {
    notes.push_back("no filesystem that can be read holds an OS (/etc/os-release)");
    return;
  }
  root->mount_point = "/";
  view.mount("/", open[root]);
  if (auto fstab = view.read("/etc/fstab")) {
    for (const auto& line : parse_fstab(*fstab)) {
      if (line.mount_point == "/" || line.mount_point.empty() || line.mount_point[0] != '/') continue;
      FsEntry* fs = find_source(line.spec, info);
      if (!fs || fs == root || !fs->mount_point.empty()) continue;
      fs->mount_point = line.mount_point;
      if (open.count(fs)) view.mount(line.mount_point, open[fs]);
      else notes.push_back(line.mount_point + " not read: " + fs->note);
    }
  }
  // The ESP, when fstab does not mount it (images whose ESP is only for the firmware).
  if (info.table) {
    for (auto& fs : info.filesystems) {
      if (!fs.mount_point.empty() || !open.count(&fs)) continue;
      for (const auto& p : info.table->partitions) {
        if (p.number == fs.partition && is_esp_type(p.type) && view.stat("/boot/efi/EFI").kind == Stat::Kind::None) {
          fs.mount_point = "/boot/efi";
          view.mount("/boot/efi", open[&fs]);
        }
      }
    }
  }
}

}  // namespace imgrecipe::inspect
