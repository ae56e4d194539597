#include "host/fs/os_mount.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "host/disk/loop.hpp"
#include "host/system/process.hpp"
#include "host/fs/fat_stage.hpp"
#include "host/fs/fstab.hpp"
#include "host/fs/mount.hpp"
#include "host/system/disk_space.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/skip_syncs.hpp"
#include "host/system/signals.hpp"

namespace imgrecipe {
namespace {

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

// Mount options for a filesystem of the working copy. A flush sent to a loop
// device becomes an fsync of its whole backing file (the working copy: after
// the conversion, hundreds of MiB of dirty pages); ext4 and btrfs send one at
// mount, at each journal commit and for every fsync in the image (dpkg, rpm).
// The working copy needs no durability of its own (the output is fsynced when
// written), so these mount without barriers. xfs has no such option.
std::string working_copy_options(const std::string& fstype, std::string options, bool read_only) {
  auto add = [&](const char* o) { options += (options.empty() ? "" : ",") + std::string(o); };
  if (read_only) add("ro");
  else if (fstype == "ext4" || fstype == "btrfs") add("nobarrier");
  return options;
}

bool has_option(const std::string& options, const std::string& opt) {
  return ("," + options + ",").find("," + opt + ",") != std::string::npos;
}

size_t depth(const std::string& p) { return static_cast<size_t>(std::count(p.begin(), p.end(), '/')); }

// The disk size a primary GPT header claims (its backup header's LBA + 1
// sectors); 0 if there is no header.
std::uint64_t gpt_disk_size(const std::string& image, std::uint64_t sector) {
  std::ifstream f(image, std::ios::binary);
  std::string h(92, '\0');
  if (!f.seekg(static_cast<std::streamoff>(sector)) || !f.read(h.data(), static_cast<std::streamsize>(h.size())) ||
      h.compare(0, 8, "EFI PART") != 0)
    return 0;
  std::uint64_t backup_lba = 0;
  for (int i = 7; i >= 0; --i) backup_lba = (backup_lba << 8) | static_cast<unsigned char>(h[32 + i]);
  return (backup_lba + 1) * sector;
}

// What a failed mount of an image's filesystem means for the user: a
// corrupt filesystem ("bad superblock") rather than the syscall's wording.
std::optional<std::string> corruption(const Error& e) {
  switch (e.sys_errno) {
    case EINVAL: return std::string("the filesystem is corrupt (bad superblock)");
    case EUCLEAN: return std::string("the filesystem is corrupt (structure needs cleaning: run fsck on it)");
    case EIO: return std::string("the filesystem is corrupt or the image is truncated (I/O error)");
    case EBADMSG: return std::string("the filesystem is corrupt (bad checksum)");
    default: return std::nullopt;
  }
}

// mtools refusing a FAT filesystem it finds inconsistent (staged FAT).
std::optional<std::string> fat_corruption(const Error& e) {
  if (e.kind() != ErrorKind::Command) return std::nullopt;
  for (const auto& line : e.output_tail) {
    if (line.find("FAT") != std::string::npos || line.find("Fat") != std::string::npos)
      return fmt::format("the FAT filesystem is corrupt ({}: {})", e.argv.empty() ? "mtools" : e.argv[0], line);
  }
  return std::nullopt;
}

// fstab's own text for messages: "/etc/fstab line 4 'UUID=... / ext4 defaults 0 1'".
std::string where(const FstabEntry& e) {
  if (e.line == 0) return fmt::format("/etc/fstab entry '{} {}'", e.source, e.target);
  std::string t = e.text;
  std::replace(t.begin(), t.end(), '\t', ' ');
  return fmt::format("/etc/fstab line {} '{}'", e.line, t);
}

}  // namespace

std::unique_ptr<OsMount> OsMount::mount(const std::string& image, const std::string& root_dir,
                                        const std::string& work_dir, const Options& opts) {
  std::unique_ptr<OsMount> m(new OsMount());
  m->image_ = image;
  m->root_dir_ = root_dir;
  m->work_dir_ = work_dir;
  m->opts_ = opts;
  PartitionTable table;
  try {
    table = read_partition_table(image);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Usage) throw;  // only "no table" is about the content
    m->fail("no partition table (GPT or MBR) found (not a disk image?)");
  }
  std::uint64_t image_size = std::filesystem::file_size(image);
  bool protective_only = table.type == "dos" && std::any_of(table.partitions.begin(), table.partitions.end(),
                                                             [](const Partition& p) { return p.type == "0xee"; });
  if (protective_only) {
    // libfdisk fell back to the protective MBR: the GPT headers did not
    // check out. The primary header's backup-LBA tells a truncated image.
    std::uint64_t disk = gpt_disk_size(image, table.sector_size);
    if (disk > image_size)
      m->fail(fmt::format("the image is truncated: its GPT describes a {}-byte disk but the file has {} bytes",
                          disk, image_size));
    m->fail("its GPT partition table is corrupt (only the protective MBR can be read)");
  }
  for (const auto& p : table.partitions) {
    if (p.start + p.size > image_size)
      m->fail(fmt::format("the image is truncated: partition {} ends at byte {} but the image has only {} bytes",
                          p.number, p.start + p.size, image_size));
  }
  m->parts_ = probe_partitions(image, table);
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

std::string OsMount::subject() const {
  return opts_.input_name.empty() ? image_ : "input image " + opts_.input_name;
}

void OsMount::fail(const std::string& why) const {
  Error e(ErrorKind::Usage, fmt::format("{}: {}", subject(), why));
  e.target = opts_.input_name.empty() ? image_ : opts_.input_name;
  throw e;
}

std::string OsMount::describe(const DiskPartition& p) {
  std::string kind = !p.fs.type.empty() ? p.fs.type : !p.part.type_name.empty() ? p.part.type_name : p.part.type;
  return fmt::format("partition {} ({})", p.part.number, kind);
}

void OsMount::mount_partition(const DiskPartition& p, const std::string& target, const std::string& fstype,
                              const std::string& options, const std::string& source, bool read_only,
                              const std::string& verity) {
  signals::check();
  const bool ro = opts_.read_only || read_only;
  std::string host_target = target == "/" ? root_dir_ : root_->resolve(target, !opts_.read_only);
  bool stage = is_fat(fstype) && (opts_.stage_fat || !kernel_supports_filesystem("vfat"));
  Held h;
  if (stage) {
    std::string dir = fmt::format("{}/fat-p{}", work_dir_, p.part.number);
    h.stage = std::make_unique<FatStage>(image_, p.part.start, p.part.size, dir, ro);
    h.mount = Mount::mount(dir, host_target, "", ro ? "bind,ro" : "bind");
  } else {
    h.loop = LoopDevice::attach(image_, p.part.start, p.part.size, ro);
    h.mount = Mount::mount(h.loop->path(), host_target, fstype, working_copy_options(fstype, kept_options(options), ro));
  }
  std::string device = h.loop ? h.loop->path() : "";
  held_.push_back(std::move(h));
  info_.push_back({target, source, p.part.number, fstype, stage, device, kept_options(options), ro, verity});
  if (!verity.empty())
    log::info("mounted partition {} ({}, dm-verity '{}' data{}) at {}", p.part.number, fstype, verity,
              ro ? ", read-only" : ", writable: its hash tree is made again", target);
  else
    log::info("mounted partition {} ({}{}) at {}", p.part.number, fstype, stage ? ", staged" : "", target);
}

void OsMount::find_verity(const std::vector<std::string>& names) {
  // ALIC reads the command line from the boot configuration (grub.cfg).
  std::vector<std::string> args;
  for (const char* path : {"/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"}) {
    auto text = root_->read_file(path);
    if (!text) continue;
    args = grub_cfg_kernel_args(*text);
    if (!args.empty()) {
      cmdline_file_ = path;
      break;
    }
  }
  if (cmdline_file_.empty())
    fail(fmt::format("/etc/fstab mounts dm-verity device(s) /dev/mapper/{} but no grub.cfg with a kernel line was "
                     "found (/boot/grub/grub.cfg, /boot/grub2/grub.cfg) to read their partitions from",
                     fmt::join(names, ", /dev/mapper/")));
  for (const auto& n : names) {
    try {
      verity_.push_back(find_existing_verity(n, args, parts_, image_));
    } catch (const Error& e) {
      fail(fmt::format("{} (read from {})", e.what(), cmdline_file_));
    }
  }
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
    // Say what each partition holds: a root-typed partition without a
    // recognizable filesystem is most likely a corrupt one.
    std::vector<std::string> seen;
    for (const auto& p : parts_) {
      if (p.fs.type.empty())
        seen.push_back(fmt::format("{} holds no recognizable filesystem{}", describe(p),
                                   is_root_type(p.part.type) ? ": the filesystem is corrupt (bad superblock) or missing"
                                                             : ""));
      else
        seen.push_back(describe(p));
    }
    if (opts_.root_partition != 0)
      fail(fmt::format("there is no partition {} (the image has: {})", opts_.root_partition,
                       seen.empty() ? "no partitions" : fmt::format("{}", fmt::join(seen, "; "))));
    fail(fmt::format("no partition holds a Linux filesystem (ext4, xfs, btrfs): {}",
                     seen.empty() ? "the partition table lists no partitions" : fmt::format("{}", fmt::join(seen, "; "))));
  }
  const DiskPartition* root = nullptr;
  std::string fstab;
  std::vector<std::string> rejected;  // why each candidate is not the root
  for (const auto* c : candidates) {
    auto loop = LoopDevice::attach(image_, c->part.start, c->part.size, opts_.read_only);
    std::unique_ptr<Mount> mnt;
    try {
      // Read-only until its fstab says whether it is dm-verity data: a
      // writable mount would change the hashed superblock.
      mnt = Mount::mount(loop->path(), root_dir_, c->fs.type, working_copy_options(c->fs.type, "", true));
    } catch (const Error& e) {
      auto why = corruption(e);
      if (!why) throw;
      rejected.push_back(fmt::format("{} cannot be mounted: {}", describe(*c), *why));
      loop->detach();
      continue;
    }
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
    rejected.push_back(fmt::format("{} has {}", describe(*c), text ? "/etc/fstab but no os-release" : "no /etc/fstab"));
    mnt->unmount();
    loop->detach();
  }
  if (root == nullptr) {
    if (rejected.size() == 1 && rejected[0].find("cannot be mounted") != std::string::npos) fail(rejected[0]);
    fail(fmt::format("no partition holds a root filesystem with /etc/fstab ({})", fmt::join(rejected, "; ")));
  }
  auto entries = parse_fstab(fstab);
  auto mapper_name = [](const FstabEntry& e) {
    const std::string prefix = "/dev/mapper/";
    return e.source.rfind(prefix, 0) == 0 ? e.source.substr(prefix.size()) : std::string();
  };
  bool root_verity = false;
  for (const auto& e : entries) {
    if (e.target == "/" && mapper_name(e) == "root") root_verity = true;
  }
  const bool root_ro = opts_.read_only || (root_verity && !opts_.verity_writable);
  if (!root_ro) {
    held_.back().mount->unmount();
    held_.back().mount =
        Mount::mount(held_.back().loop->path(), root_dir_, root->fs.type, working_copy_options(root->fs.type, "", false));
  }
  root_ = std::make_unique<RootDir>(root_dir_);
  info_.push_back({"/", fmt::format("partition {}", root->part.number), root->part.number, root->fs.type, false,
                   held_.back().loop->path(), "", root_ro, root_verity ? "root" : ""});
  if (root_verity)
    log::info("mounted partition {} ({}, dm-verity 'root' data{}) at /", root->part.number, root->fs.type,
              root_ro ? ", read-only" : ", writable: its hash tree is made again");
  else
    log::info("mounted partition {} ({}) at /", root->part.number, root->fs.type);

  // The root was found by its content; an fstab root naming something else
  // will not boot as written: say so, naming the line.
  for (const auto& e : entries) {
    if (e.target != "/" || root_verity) continue;
    const DiskPartition* named = resolve_fstab_source(e.source, parts_);
    if (named == nullptr)
      log::warn("{}: {} names a root that matches no partition of the image; using {}, which holds this "
                "/etc/fstab (the image may not boot as it is)",
                subject(), where(e), describe(*root));
    else if (named != root)
      log::warn("{}: {} names {} as the root, but /etc/fstab was found on {}", subject(), where(e),
                describe(*named), describe(*root));
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const FstabEntry& a, const FstabEntry& b) { return depth(a.target) < depth(b.target); });
  // dm-verity devices (/dev/mapper/<name>) are mounted from their data
  // partitions, which the kernel command line names: it is read once the
  // other filesystems (/boot) are mounted. Anything under a verity mount
  // waits for it.
  std::vector<std::string> names;
  if (root_verity) names.push_back("root");
  std::vector<const FstabEntry*> deferred;
  auto under = [](const std::string& path, const std::string& dir) {
    return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
  };
  auto mount_entry = [&](const FstabEntry& e) {
    std::string vname = mapper_name(e);
    const DiskPartition* p = nullptr;
    if (!vname.empty()) {
      for (const auto& v : verity_) {
        if (v.name != vname) continue;
        for (const auto& q : parts_) {
          if (q.part.number == v.data_partition) p = &q;
        }
      }
      if (p == nullptr)
        fail(fmt::format("/etc/fstab{}: '{} {}' is a dm-verity device that the kernel command line ({}) does not open "
                         "(no systemd.verity_{}_data= argument)",
                         e.line ? fmt::format(" line {}", e.line) : "", e.source, e.target, cmdline_file_, vname));
      std::string fstype = (e.fstype.empty() || e.fstype == "auto") ? p->fs.type : e.fstype;
      mount_partition(*p, e.target, fstype, e.options, e.source, !opts_.verity_writable, vname);
      return;
    }
    p = resolve_fstab_source(e.source, parts_);
    if (p == nullptr) {
      static const char* pseudo[] = {"tmpfs", "proc", "sysfs", "devpts", "overlay", "none", "swap", "nfs", "cifs"};
      bool is_pseudo = std::find(std::begin(pseudo), std::end(pseudo), e.fstype) != std::end(pseudo);
      if (is_pseudo) {
        log::debug("fstab: skipping {} on {} ({})", e.source, e.target, e.fstype);
        return;
      }
      if (has_option(e.options, "nofail") || has_option(e.options, "noauto")) {
        log::warn("fstab: skipping {} on {}: {} matches no partition of {} (it is nofail/noauto)", e.source,
                  e.target, where(e), subject());
        return;
      }
      fail(fmt::format("/etc/fstab{}: '{} {}' refers to no partition of this image{}",
                       e.line ? fmt::format(" line {}", e.line) : "", e.source, e.target,
                       e.line ? fmt::format(" (the line: '{}')", e.text) : ""));
    }
    std::string fstype = (e.fstype.empty() || e.fstype == "auto") ? p->fs.type : e.fstype;
    try {
      mount_partition(*p, e.target, fstype, e.options, e.source);
    } catch (const Error& err) {
      auto why = corruption(err);
      if (!why) why = fat_corruption(err);
      if (!why) throw;
      fail(fmt::format("{} for {} ({}) cannot be mounted: {}", describe(*p), e.target, where(e), *why));
    }
  };
  for (const auto& e : entries) {
    if (e.target == "/" || e.target.empty() || e.target[0] != '/') continue;  // root done; swap is "none"
    std::string vname = mapper_name(e);
    bool after_verity = false;
    for (const auto* d : deferred) after_verity = after_verity || under(e.target, d->target);
    if (!vname.empty() || after_verity) {
      if (!vname.empty() && std::find(names.begin(), names.end(), vname) == names.end()) names.push_back(vname);
      deferred.push_back(&e);
      continue;
    }
    mount_entry(e);
  }
  if (names.empty()) return;
  find_verity(names);
  if (root_verity && verity_.front().data_partition != root->part.number)
    fail(fmt::format("/etc/fstab mounts / from /dev/mapper/root, found on {}, but systemd.verity_root_data= in {} "
                     "names partition {}",
                     describe(*root), cmdline_file_, verity_.front().data_partition));
  for (const auto* e : deferred) mount_entry(*e);
}

OsMount::~OsMount() {
  try {
    release(false);
  } catch (const std::exception& e) {
    log::error("releasing mounts: {}", e.what());
  }
}

void check_unmounted_filesystem(const std::string& device, const std::string& fstype, const std::string& what) {
  std::vector<std::string> argv;
  if (fstype == "ext4" || fstype == "ext3" || fstype == "ext2") argv = {"e2fsck", "-f", "-n", device};
  else if (fstype == "xfs") argv = {"xfs_repair", "-n", device};
  else if (fstype == "btrfs") argv = {"btrfs", "check", "--readonly", device};
  else return;
  const std::string checker = argv[0];
  // A user's PATH may lack the sbin directories the checkers live in.
  argv[0] = find_program(checker, "/usr/sbin:/sbin:/usr/bin:/bin");
  if (argv[0].empty()) {
    log::warn("{} is not installed: {} not checked", checker, what);
    return;
  }
  log::debug("checking {} ({})", what, device);
  RunOptions ro;
  // The checkers fsync the device on open: a flush of the whole working copy.
  ro.child_setup = skip_syncs;
  RunResult r = run(argv, ro);
  if (r.exit_code == 0) return;
  // e2fsck: 4 = errors left uncorrected; 8 alone = it could not check (a
  // feature newer than this e2fsprogs, say), which says nothing of damage.
  if (checker == "e2fsck" && (r.exit_code & 4) == 0 && r.exit_code >= 8) {
    log::warn("{} could not be checked (e2fsck exited with code {}: {})", what, r.exit_code,
              r.tail.empty() ? "no output" : r.tail.back());
    return;
  }
  Error c = command_error(argv, r, "", false);
  Error e(ErrorKind::Command, fmt::format("{} is damaged: its read-only check {}", what, c.what()));
  e.op = "check filesystem";
  e.target = device;
  e.argv = c.argv;
  e.exit_code = c.exit_code;
  e.output_tail = c.output_tail;
  throw e;
}

void OsMount::release(bool commit) {
  if (released_) return;
  released_ = true;
  root_.reset();  // its directory fd would keep the root mount busy
  // With `commit`, nothing may be lost silently: each filesystem is flushed and
  // its error state checked before it is unmounted, its loop device's writes
  // checked and the filesystem checked read-only after. Every resource is
  // released whatever fails; after a failure nothing more is written back.
  commit = commit && !opts_.read_only;
  const bool checked = commit;
  std::exception_ptr first;
  auto step = [&](auto&& fn) {
    try {
      fn();
    } catch (...) {
      if (!first) first = std::current_exception();
      commit = false;
    }
  };
  for (size_t i = held_.size(); i-- > 0;) {
    Held& h = held_[i];
    std::string fstype = h.mount ? h.mount->fstype() : "";
    std::string what = i < info_.size() ? fmt::format("partition {} ({}, mounted at {}) of {}", info_[i].partition,
                                                      info_[i].fstype, info_[i].target, image_)
                                        : image_;
    if (h.mount) {
      if (commit) step([&] { h.mount->check_health(what); });
      step([&] { h.mount->unmount(); });
    }
    if (h.stage) {
      if (commit) step([&] { h.stage->commit(); });
      step([&] { h.stage->discard(); });
    }
    if (h.loop) {
      if (commit) step([&] { h.loop->flush(); });
      if (commit) step([&] { check_unmounted_filesystem(h.loop->path(), fstype, what); });
      step([&] { h.loop->detach(); });
    }
  }
  held_.clear();
  if (!first) return;
  // The working copy may live outside the build directory (a Lua recipe's
  // own work_dir): name a full filesystem wherever it is.
  try {
    std::rethrow_exception(first);
  } catch (const Error& e) {
    if (checked) throw space::attribute(e, image_);
    throw;
  }
}

}  // namespace imgrecipe
