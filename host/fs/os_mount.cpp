#include "host/fs/os_mount.hpp"

#include <libmount/libmount.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <regex>

#include <fmt/format.h>

#include "host/disk/loop.hpp"
#include "host/fs/fat_stage.hpp"
#include "host/fs/mount.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/signals.hpp"

namespace imgrecipe {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool is_linux_fs(const std::string& t) {
  return t == "ext4" || t == "ext3" || t == "ext2" || t == "xfs" || t == "btrfs";
}
bool is_fat(const std::string& t) { return t == "vfat" || t == "msdos" || t == "fat"; }

// Root partition type GUIDs of the Discoverable Partitions Specification.
bool is_root_type(const std::string& t) {
  return t == "4f68bce3-e8cd-4db1-96e7-fbcaf984b709" || t == "44479540-f297-41b2-9af7-d131d5f0458a" ||
         t == "b921b045-1df0-41c3-af44-4c6f280d3fae" || t == "0fc63daf-8483-4772-8e79-3d69d8477de4" || t == "0x83";
}

// fstab options that change what is mounted (not how); everything else is
// dropped because we mount for modification, not for the booted system.
std::string kept_options(const std::string& options) {
  std::string out;
  size_t i = 0;
  while (i <= options.size()) {
    size_t j = options.find(',', i);
    if (j == std::string::npos) j = options.size();
    std::string o = options.substr(i, j - i);
    if (o.rfind("subvol=", 0) == 0 || o.rfind("subvolid=", 0) == 0) out += (out.empty() ? "" : ",") + o;
    i = j + 1;
  }
  return out;
}

bool has_option(const std::string& options, const std::string& opt) {
  return ("," + options + ",").find("," + opt + ",") != std::string::npos;
}

size_t depth(const std::string& p) { return static_cast<size_t>(std::count(p.begin(), p.end(), '/')); }

}  // namespace

std::vector<DiskPartition> scan_partitions(const std::string& image) {
  return probe_partitions(image, read_partition_table(image));
}

std::vector<DiskPartition> probe_partitions(const std::string& image, const PartitionTable& table) {
  std::vector<DiskPartition> out;
  for (const auto& p : table.partitions) out.push_back({p, probe_filesystem(image, p.start, p.size)});
  return out;
}

std::vector<FstabEntry> parse_fstab(const std::string& text) {
  std::vector<FstabEntry> out;
  std::string copy = text;
  FILE* f = fmemopen(copy.data(), copy.size(), "r");
  if (f == nullptr) throw_errno("fmemopen", "fstab");
  libmnt_table* tb = mnt_new_table();
  int rc = mnt_table_parse_stream(tb, f, "fstab");
  std::fclose(f);
  if (rc != 0) {
    mnt_unref_table(tb);
    throw Error(ErrorKind::Usage, "cannot parse the image's /etc/fstab");
  }
  libmnt_iter* it = mnt_new_iter(MNT_ITER_FORWARD);
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(tb, it, &fs) == 0) {
    FstabEntry e;
    if (const char* s = mnt_fs_get_source(fs)) e.source = s;
    else if (const char* tag = nullptr, *val = nullptr; mnt_fs_get_tag(fs, &tag, &val) == 0) e.source = fmt::format("{}={}", tag, val);
    if (const char* t = mnt_fs_get_target(fs)) e.target = t;
    if (const char* t = mnt_fs_get_fstype(fs)) e.fstype = t;
    if (const char* o = mnt_fs_get_options(fs)) e.options = o;
    out.push_back(std::move(e));
  }
  mnt_free_iter(it);
  mnt_unref_table(tb);
  return out;
}

const DiskPartition* resolve_fstab_source(const std::string& source, const std::vector<DiskPartition>& parts) {
  auto tag = [&](const std::string& name) -> std::optional<std::string> {
    if (source.rfind(name + "=", 0) == 0) {
      std::string v = source.substr(name.size() + 1);
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
      return v;
    }
    static const std::pair<const char*, const char*> dirs[] = {{"UUID", "/dev/disk/by-uuid/"},
                                                               {"PARTUUID", "/dev/disk/by-partuuid/"},
                                                               {"LABEL", "/dev/disk/by-label/"},
                                                               {"PARTLABEL", "/dev/disk/by-partlabel/"}};
    for (auto [n, d] : dirs) {
      if (name == n && source.rfind(d, 0) == 0) return source.substr(std::strlen(d));
    }
    return std::nullopt;
  };
  for (const auto& p : parts) {
    if (auto v = tag("UUID"); v && !p.fs.uuid.empty() && lower(*v) == lower(p.fs.uuid)) return &p;
    if (auto v = tag("PARTUUID"); v && !p.part.uuid.empty() && lower(*v) == lower(p.part.uuid)) return &p;
    if (auto v = tag("LABEL"); v && !p.fs.label.empty() && *v == p.fs.label) return &p;
    if (auto v = tag("PARTLABEL"); v && !p.part.label.empty() && *v == p.part.label) return &p;
  }
  // Kernel device names: the partition number is what identifies it here.
  static const std::regex dev(R"(^/dev/(?:[shvx]d[a-z]+|nvme\d+n\d+p|mmcblk\d+p|loop\d+p)(\d+)$)");
  std::smatch m;
  if (std::regex_match(source, m, dev)) {
    int n = 0;
    const std::string digits = m[1];
    // Too large for an int: no such partition (std::stoi would throw).
    if (std::from_chars(digits.data(), digits.data() + digits.size(), n).ec != std::errc()) return nullptr;
    for (const auto& p : parts) {
      if (p.part.number == n) return &p;
    }
  }
  return nullptr;
}

std::unique_ptr<OsMount> OsMount::mount(const std::string& image, const std::string& root_dir,
                                        const std::string& work_dir, const Options& opts) {
  std::unique_ptr<OsMount> m(new OsMount());
  m->image_ = image;
  m->root_dir_ = root_dir;
  m->work_dir_ = work_dir;
  m->opts_ = opts;
  m->parts_ = scan_partitions(image);
  std::filesystem::create_directories(root_dir);
  std::filesystem::create_directories(work_dir);
  try {
    m->mount_all();
  } catch (...) {
    m->release(false);
    throw;
  }
  return m;
}

void OsMount::mount_partition(const DiskPartition& p, const std::string& target, const std::string& fstype,
                              const std::string& options, const std::string& source) {
  signals::check();
  std::string host_target = target == "/" ? root_dir_ : root_->resolve(target, !opts_.read_only);
  bool stage = is_fat(fstype) && (opts_.stage_fat || !kernel_supports_filesystem("vfat"));
  Held h;
  if (stage) {
    std::string dir = fmt::format("{}/fat-p{}", work_dir_, p.part.number);
    h.stage = std::make_unique<FatStage>(image_, p.part.start, p.part.size, dir, opts_.read_only);
    h.mount = Mount::mount(dir, host_target, "", opts_.read_only ? "bind,ro" : "bind");
  } else {
    h.loop = LoopDevice::attach(image_, p.part.start, p.part.size, opts_.read_only);
    std::string o = kept_options(options);
    if (opts_.read_only) o = o.empty() ? "ro" : o + ",ro";
    h.mount = Mount::mount(h.loop->path(), host_target, fstype, o);
  }
  std::string device = h.loop ? h.loop->path() : "";
  held_.push_back(std::move(h));
  info_.push_back({target, source, p.part.number, fstype, stage, device});
  log::info("mounted partition {} ({}{}) at {}", p.part.number, fstype, stage ? ", staged" : "", target);
}

void OsMount::mount_all() {
  // Find the root: a Linux filesystem holding /etc/fstab, trying partitions
  // typed as root first.
  std::vector<const DiskPartition*> candidates;
  for (const auto& p : parts_) {
    if (opts_.root_partition != 0 ? p.part.number == opts_.root_partition : is_linux_fs(p.fs.type)) {
      candidates.push_back(&p);
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](auto* a, auto* b) {
    return is_root_type(a->part.type) && !is_root_type(b->part.type);
  });
  if (candidates.empty()) {
    throw Error(ErrorKind::Usage, fmt::format("{}: no partition with a Linux filesystem (ext4, xfs, btrfs) found", image_));
  }
  const DiskPartition* root = nullptr;
  std::string fstab;
  for (const auto* c : candidates) {
    auto loop = LoopDevice::attach(image_, c->part.start, c->part.size, opts_.read_only);
    auto mnt = Mount::mount(loop->path(), root_dir_, c->fs.type, opts_.read_only ? "ro" : "");
    std::optional<std::string> text;
    bool has_os_release = false;
    {
      RootDir probe(root_dir_);  // closed before any unmount: an open fd keeps the mount busy
      text = probe.read_file("/etc/fstab");
      has_os_release = probe.exists("/etc/os-release") || probe.exists("/usr/lib/os-release");
    }
    if (text && (has_os_release || candidates.size() == 1)) {
      root = c;
      fstab = *text;
      held_.push_back({std::move(loop), std::move(mnt), nullptr});
      break;
    }
    mnt->unmount();
    loop->detach();
  }
  if (root == nullptr) {
    throw Error(ErrorKind::Usage, fmt::format("{}: no partition holds an OS root filesystem (with /etc/fstab)", image_));
  }
  root_ = std::make_unique<RootDir>(root_dir_);
  info_.push_back({"/", fmt::format("partition {}", root->part.number), root->part.number, root->fs.type, false,
                   held_.back().loop->path()});
  log::info("mounted partition {} ({}) at /", root->part.number, root->fs.type);

  auto entries = parse_fstab(fstab);
  std::stable_sort(entries.begin(), entries.end(),
                   [](const FstabEntry& a, const FstabEntry& b) { return depth(a.target) < depth(b.target); });
  for (const auto& e : entries) {
    if (e.target == "/" || e.target.empty() || e.target[0] != '/') continue;  // root done; swap is "none"
    const DiskPartition* p = resolve_fstab_source(e.source, parts_);
    if (p == nullptr) {
      static const char* pseudo[] = {"tmpfs", "proc", "sysfs", "devpts", "overlay", "none", "swap", "nfs", "cifs"};
      bool is_pseudo = std::find(std::begin(pseudo), std::end(pseudo), e.fstype) != std::end(pseudo);
      if (is_pseudo || has_option(e.options, "nofail") || has_option(e.options, "noauto")) {
        log::debug("fstab: skipping {} on {} ({})", e.source, e.target, e.fstype);
        continue;
      }
      throw Error(ErrorKind::Usage, fmt::format("/etc/fstab entry '{} {}' refers to no partition of this image",
                                                e.source, e.target));
    }
    std::string fstype = (e.fstype.empty() || e.fstype == "auto") ? p->fs.type : e.fstype;
    mount_partition(*p, e.target, fstype, e.options, e.source);
  }
}

OsMount::~OsMount() {
  try {
    release(false);
  } catch (const std::exception& e) {
    log::error("releasing mounts: {}", e.what());
  }
}

void OsMount::release(bool commit) {
  if (released_) return;
  released_ = true;
  root_.reset();  // its directory fd would keep the root mount busy
  std::exception_ptr first;
  for (auto it = held_.rbegin(); it != held_.rend(); ++it) {
    try {
      if (it->mount) it->mount->unmount();
      if (it->stage) {
        if (commit && !opts_.read_only) it->stage->commit();
        else it->stage->discard();
      }
      if (it->loop) it->loop->detach();
    } catch (...) {
      if (!first) first = std::current_exception();
      commit = false;  // don't write back anything after a failure
    }
  }
  held_.clear();
  if (first) std::rethrow_exception(first);
}

}  // namespace imgrecipe
