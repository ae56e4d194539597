#include "host/fs/mkfs.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cctype>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "host/disk/loop.hpp"
#include "host/disk/partitioner.hpp"
#include "host/system/process.hpp"
#include "host/fs/mount.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/unique_fd.hpp"

extern char** environ;

namespace imgrecipe {
namespace {

constexpr std::uint64_t kSector = 512;
constexpr std::uint64_t kFat16MinClusters = 4085;
constexpr std::uint64_t kFat32MinClusters = 65525;

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

// Clusters left after the reserved sectors, the root directory and two FATs
// of `entry_bits` per cluster (fixed point, as mkfs.fat computes it).
std::uint64_t clusters_for(std::uint64_t sectors, unsigned reserved, unsigned root_sectors, unsigned spc,
                           unsigned entry_bits) {
  if (sectors <= reserved + root_sectors) return 0;
  std::uint64_t avail = sectors - reserved - root_sectors;
  std::uint64_t clusters = avail / spc;
  for (int i = 0; i < 4; ++i) {
    std::uint64_t fat = div_up((clusters + 2) * entry_bits, 8 * kSector);
    if (avail <= 2 * fat) return 0;
    clusters = (avail - 2 * fat) / spc;
  }
  return clusters;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

bool hex8(const std::string& s) {
  return s.size() == 8 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

void check_label(const MkfsOptions& o, std::size_t max) {
  if (o.label.size() > max) {
    throw_usage(fmt::format("{} label '{}' is longer than {} bytes", fs_type_name(o.type), o.label, max));
  }
}

// Subvolume paths: relative, no empty, '.' or '..' components.
void check_subvolume(const std::string& p) {
  bool bad = p.empty() || p.front() == '/' || p.back() == '/' || p.find("//") != std::string::npos;
  for (std::size_t b = 0; !bad && b <= p.size();) {
    std::size_t e = p.find('/', b);
    if (e == std::string::npos) e = p.size();
    std::string c = p.substr(b, e - b);
    if (c == "." || c == "..") bad = true;
    b = e + 1;
  }
  if (bad) throw_usage(fmt::format("btrfs subvolume path '{}' must be relative without '.', '..' or empty parts", p));
}

bool is_block_device(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

std::uint64_t device_size(const std::string& path) {
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) throw_errno("stat", path);
  if (S_ISREG(st.st_mode)) return static_cast<std::uint64_t>(st.st_size);
  std::uint64_t size = 0;
  if (!S_ISBLK(st.st_mode) || ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
    throw_usage(fmt::format("{}: not a block device or image file", path));
  }
  return size;
}

}  // namespace

FsType parse_fs_type(const std::string& name) {
  if (name == "ext4") return FsType::Ext4;
  if (name == "xfs") return FsType::Xfs;
  if (name == "vfat" || name == "fat32") return FsType::Vfat;
  if (name == "btrfs") return FsType::Btrfs;
  throw_usage(fmt::format("unknown filesystem type '{}' (expected ext4, xfs, vfat, fat32 or btrfs)", name));
}

const char* fs_type_name(FsType type) {
  switch (type) {
    case FsType::Ext4: return "ext4";
    case FsType::Xfs: return "xfs";
    case FsType::Vfat: return "vfat";
    case FsType::Btrfs: return "btrfs";
  }
  return "?";
}

FatGeometry fat_geometry(std::uint64_t size) {
  if (size < 1024 * 1024) throw_usage(fmt::format("a FAT filesystem of {} bytes is too small (at least 1 MiB)", size));
  const std::uint64_t sectors = size / kSector;
  FatGeometry g;
  // FAT32, cluster size from Microsoft's table for 512-byte sectors.
  const std::uint64_t mib = size >> 20;
  g.sectors_per_cluster = mib < 260 ? 1 : mib < 8192 ? 8 : mib < 16384 ? 16 : mib < 32768 ? 32 : 64;
  g.reserved_sectors = 32;
  g.clusters = clusters_for(sectors, 32, 0, g.sectors_per_cluster, 32);
  // A small margin: mkfs.fat's own count may come out a few clusters lower.
  if (g.clusters >= kFat32MinClusters + 64) return g;
  // FAT16/FAT12: one reserved sector, a 512-entry root directory (32 sectors).
  g.reserved_sectors = 1;
  g.root_entries = 512;
  for (unsigned spc = 1; spc <= 64; spc *= 2) {
    std::uint64_t c = clusters_for(sectors, 1, 32, spc, 16);
    if (c < kFat32MinClusters) {
      g.fat_bits = c >= kFat16MinClusters ? 16 : 12;
      g.sectors_per_cluster = spc;
      g.clusters = g.fat_bits == 16 ? c : clusters_for(sectors, 1, 32, spc, 12);
      return g;
    }
  }
  throw Error(ErrorKind::Internal, fmt::format("no FAT geometry for {} bytes", size));
}

std::vector<std::string> mkfs_env() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv = *e;
    if (kv.rfind("MKE2FS_", 0) == 0 || kv.rfind("LC_ALL=", 0) == 0) continue;
    env.push_back(std::move(kv));
  }
  // An empty profile: nothing of the host's /etc/mke2fs.conf applies.
  env.push_back("MKE2FS_CONFIG=/dev/null");
  env.push_back("LC_ALL=C");
  return env;
}

std::vector<std::string> mkfs_command(const MkfsOptions& o, const FsTarget& t, const std::string& device) {
  const bool region = t.offset != 0;
  if (t.offset % kSector != 0) throw_usage(fmt::format("{}: offset {} is not a multiple of 512", t.path, t.offset));
  if (region && t.size == 0) throw_usage(fmt::format("{}: a region at offset {} needs a size", t.path, t.offset));
  if (o.type != FsType::Btrfs && !o.btrfs_subvolumes.empty()) throw_usage("subvolumes are a btrfs feature");
  const bool guid_uuid = o.type != FsType::Vfat;
  if (!o.uuid.empty() && guid_uuid && !is_guid(o.uuid)) {
    throw_usage(fmt::format("{} UUID '{}' is not a GUID", fs_type_name(o.type), o.uuid));
  }
  std::vector<std::string> a;
  switch (o.type) {
    case FsType::Ext4: {
      check_label(o, 16);
      a = {"mke2fs", "-F", "-b", "4096", "-I", "256", "-i", "16384", "-O",
           "none,has_journal,ext_attr,resize_inode,dir_index,filetype,extent,64bit,flex_bg,sparse_super,large_file,"
           "huge_file,dir_nlink,extra_isize,metadata_csum"};
      std::string ext = "nodiscard,lazy_itable_init=1,lazy_journal_init=1";
      if (region) ext += fmt::format(",offset={}", t.offset);
      a.insert(a.end(), {"-E", ext});
      if (!o.label.empty()) a.insert(a.end(), {"-L", o.label});
      if (!o.uuid.empty()) a.insert(a.end(), {"-U", o.uuid});
      a.push_back(device);
      // Without an explicit size mke2fs would run to the end of the file
      // (over the backup GPT).
      if (t.size != 0) a.push_back(fmt::format("{}k", t.size / 1024));
      break;
    }
    case FsType::Xfs: {
      check_label(o, 12);
      std::string meta = "crc=1,finobt=1,rmapbt=0,reflink=1,bigtime=1,inobtcount=1";
      if (!o.uuid.empty()) meta += ",uuid=" + o.uuid;
      a = {"mkfs.xfs", "-f", "-K", "-m", meta, "-i", "sparse=1,nrext64=0", "-n", "ftype=1"};
      if (!o.label.empty()) a.insert(a.end(), {"-L", o.label});
      a.push_back(device);
      break;
    }
    case FsType::Btrfs: {
      check_label(o, 255);
      a = {"mkfs.btrfs", "-f", "-K", "--csum", "crc32c", "-n", "16384", "-s", "4096", "-d", "single", "-m", "dup",
           "-O", "extref,skinny-metadata,no-holes,^mixed-bg,^raid56,^raid1c34,^zoned", "-R", "free-space-tree"};
      if (!o.label.empty()) a.insert(a.end(), {"-L", o.label});
      if (!o.uuid.empty()) a.insert(a.end(), {"-U", o.uuid});
      a.push_back(device);
      break;
    }
    case FsType::Vfat: {
      check_label(o, 11);
      if (t.size == 0) throw Error(ErrorKind::Internal, "vfat: the size must be known");
      FatGeometry g = fat_geometry(t.size);
      a = {"mkfs.fat", "-F", std::to_string(g.fat_bits), "-s", std::to_string(g.sectors_per_cluster), "-S", "512",
           "-f", "2", "-R", std::to_string(g.reserved_sectors), "--mbr=n"};
      if (g.root_entries != 0) a.insert(a.end(), {"-r", std::to_string(g.root_entries)});
      if (!o.label.empty()) a.insert(a.end(), {"-n", o.label});
      if (!o.uuid.empty()) {
        std::string id = o.uuid;
        if (id.size() == 9 && id[4] == '-') id.erase(4, 1);
        if (!hex8(id)) throw_usage(fmt::format("vfat volume ID '{}' is not of the form ABCD-1234", o.uuid));
        a.insert(a.end(), {"-i", upper(id)});
      }
      if (region) {
        a.push_back(fmt::format("--offset={}", t.offset / kSector));
        a.insert(a.end(), {"-h", std::to_string(t.offset / kSector)});
      }
      a.push_back(device);
      a.push_back(std::to_string(t.size / 1024));
      break;
    }
  }
  return a;
}

void require_tool(const std::string& tool, const std::string& package) {
  if (!find_program(tool).empty()) return;
  throw Error(ErrorKind::Unsupported,
              fmt::format("{} is not installed on this host (Debian package {})", tool, package));
}

void make_filesystem(const FsTarget& target, const MkfsOptions& opts) {
  switch (opts.type) {
    case FsType::Ext4: require_tool("mke2fs", "e2fsprogs"); break;
    case FsType::Xfs: require_tool("mkfs.xfs", "xfsprogs"); break;
    case FsType::Vfat: require_tool("mkfs.fat", "dosfstools"); break;
    case FsType::Btrfs:
      require_tool("mkfs.btrfs", "btrfs-progs");
      if (!opts.btrfs_subvolumes.empty()) require_tool("btrfs", "btrfs-progs");
      break;
  }
  for (const auto& s : opts.btrfs_subvolumes) check_subvolume(s.path);
  if (!opts.btrfs_subvolumes.empty() && opts.work_dir.empty()) throw_usage("btrfs subvolumes need a work directory");
  FsTarget t = target;
  const std::uint64_t whole = device_size(t.path);
  if (t.size == 0) {
    if (t.offset != 0) throw_usage(fmt::format("{}: a region at offset {} needs a size", t.path, t.offset));
    t.size = whole;
  }
  if (t.offset + t.size > whole) {
    throw_usage(fmt::format("{}: region [{}, {}) runs past its end ({} bytes)", t.path, t.offset, t.offset + t.size,
                            whole));
  }
  // xfs and btrfs cannot write at an offset, and subvolumes need a mount:
  // a loop device over the region.
  std::unique_ptr<LoopDevice> loop;
  const bool needs_loop = (t.offset != 0 && (opts.type == FsType::Xfs || opts.type == FsType::Btrfs)) ||
                          (!opts.btrfs_subvolumes.empty() && !is_block_device(t.path));
  FsTarget cmd_target = t;
  std::string device = t.path;
  if (needs_loop) {
    loop = LoopDevice::attach(t.path, t.offset, t.size, false);
    device = loop->path();
    if (opts.type == FsType::Xfs || opts.type == FsType::Btrfs) cmd_target = FsTarget{device, 0, t.size};
  }
  RunOptions ro;
  ro.env = mkfs_env();
  run_checked(mkfs_command(opts, cmd_target, device), ro);

  if (!opts.btrfs_subvolumes.empty()) {
    std::filesystem::create_directories(opts.work_dir);
    auto m = Mount::mount(device, opts.work_dir, "btrfs", "");
    bool quota = false;
    for (const auto& s : opts.btrfs_subvolumes) {
      std::filesystem::path p = std::filesystem::path(opts.work_dir) / s.path;
      std::filesystem::create_directories(p.parent_path());
      run_checked({"btrfs", "subvolume", "create", p.string()}, ro);
      if (s.referenced_limit == 0 && s.exclusive_limit == 0) continue;
      if (!quota) run_checked({"btrfs", "quota", "enable", opts.work_dir}, ro);
      quota = true;
      if (s.referenced_limit != 0) {
        run_checked({"btrfs", "qgroup", "limit", std::to_string(s.referenced_limit), p.string()}, ro);
      }
      if (s.exclusive_limit != 0) {
        run_checked({"btrfs", "qgroup", "limit", "-e", std::to_string(s.exclusive_limit), p.string()}, ro);
      }
    }
    m->unmount();
  }
  if (loop) loop->detach();
  log::debug("made {} on {} (offset {}, size {})", fs_type_name(opts.type), t.path, t.offset, t.size);
}

}  // namespace imgrecipe
