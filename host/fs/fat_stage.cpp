#include "host/fs/fat_stage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "host/system/process.hpp"
#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/log.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/signals.hpp"
#include "host/system/unique_fd.hpp"
#include "host/system/workspace.hpp"

namespace imgrecipe {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMaxFatFile = 0xFFFFFFFFull;  // FAT file sizes are 32-bit

class Fd {
 public:
  Fd(const std::string& path, int flags) : path_(path), fd_(open_or_throw(path, flags)) {}
  int get() const { return fd_.get(); }
  const std::string& path() const { return path_; }

  void read_at(void* buf, std::size_t n, std::uint64_t off) const { read_full_at(fd_.get(), buf, n, off, path_); }
  void write_at(const void* buf, std::size_t n, std::uint64_t off) const {
    write_full_at(fd_.get(), buf, n, off, path_);
  }

 private:
  std::string path_;
  UniqueFd fd_;
};

std::uint32_t le16(const unsigned char* p) { return p[0] | (std::uint32_t{p[1]} << 8); }
std::uint32_t le32(const unsigned char* p) { return le16(p) | (le16(p + 2) << 16); }
void put_le16(unsigned char* p, std::uint32_t v) { p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; }
void put_le32(unsigned char* p, std::uint32_t v) { put_le16(p, v & 0xffff); put_le16(p + 2, v >> 16); }

std::string trim_label(const unsigned char* p) {
  std::string s(reinterpret_cast<const char*>(p), 11);
  if (!s.empty() && s[0] == '\x05') s[0] = '\xe5';  // 0xE5 as a first byte is stored as 0x05
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// The volume label entry of the root directory (what blkid and the OS show).
std::string root_dir_label(const Fd& fd, std::uint64_t offset, const FatInfo& fi, std::uint32_t root_cluster) {
  const std::uint64_t ss = fi.sector_size;
  const std::uint64_t fat_start = offset + std::uint64_t{fi.reserved_sectors} * ss;
  const std::uint64_t root_start = fat_start + std::uint64_t{fi.num_fats} * fi.fat_sectors * ss;
  const std::uint64_t root_bytes = (std::uint64_t{fi.root_entries} * 32 + ss - 1) / ss * ss;
  const std::uint64_t data_start = root_start + root_bytes;
  const std::uint64_t cluster_bytes = ss * fi.cluster_sectors;

  std::vector<unsigned char> buf;
  // Returns true at the end-of-directory marker; sets `label` when found.
  auto scan = [&](std::string& label) {
    for (std::size_t i = 0; i + 32 <= buf.size(); i += 32) {
      const unsigned char* e = buf.data() + i;
      if (e[0] == 0x00) return true;
      if (e[0] == 0xE5 || e[11] == 0x0F) continue;  // deleted, long-name part
      if (e[11] & 0x08) {
        label = trim_label(e);
        return true;
      }
    }
    return false;
  };
  std::string label;
  if (fi.fat_bits != 32) {
    buf.resize(root_bytes);
    fd.read_at(buf.data(), buf.size(), root_start);
    scan(label);
    return label;
  }
  buf.resize(cluster_bytes);
  std::uint32_t cluster = root_cluster;
  for (std::uint64_t n = 0; cluster >= 2 && cluster < fi.clusters + 2 && n <= fi.clusters; ++n) {
    fd.read_at(buf.data(), buf.size(), data_start + (cluster - 2) * cluster_bytes);
    if (scan(label)) break;
    unsigned char next[4];
    fd.read_at(next, 4, fat_start + std::uint64_t{cluster} * 4);
    cluster = le32(next) & 0x0FFFFFFF;
  }
  return label;
}

void check_path_for_mtools(const std::string& path) {
  // mtools splits "-i FILE@@OFFSET" at the "@@".
  if (path.find("@@") != std::string::npos) throw_usage(fmt::format("FAT staging: path {} must not contain '@@'", path));
}

std::string mtools_image(const std::string& image, std::uint64_t offset) {
  return offset == 0 ? image : fmt::format("{}@@{}", image, offset);
}

RunOptions mtools_opts() {
  RunOptions o;
  o.env = mtools_env();
  return o;
}

// Mount points at or below `dir` (from /proc/self/mountinfo, octal escapes decoded).
std::vector<std::string> mounts_under(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::size_t pos = 0;
    for (int field = 0; field < 4 && pos != std::string::npos; ++field) pos = line.find(' ', pos + 1);
    if (pos == std::string::npos) continue;
    std::string raw = line.substr(pos + 1, line.find(' ', pos + 1) - pos - 1), mp;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 3 < raw.size()) {
        mp += static_cast<char>(std::stoi(raw.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        mp += raw[i];
      }
    }
    if (mp == dir || mp.starts_with(dir + "/")) out.push_back(mp);
  }
  return out;
}

std::uint64_t hash_file(const std::string& path) {
  Fd fd(path, O_RDONLY);
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  std::vector<unsigned char> buf(1 << 20);
  for (;;) {
    ssize_t r = ::read(fd.get(), buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw_errno("read", path);
    if (r == 0) break;
    for (ssize_t i = 0; i < r; ++i) h = (h ^ buf[static_cast<std::size_t>(i)]) * 1099511628211ull;
    signals::check();
  }
  return h;
}

// Zeroes a range of the destination, keeping image files sparse.
void zero_range(const Fd& dst, bool block_device, std::uint64_t off, std::uint64_t len) {
  if (len == 0) return;
  // On a block device this is a guaranteed zeroing that may unmap (a loop
  // device then punches a hole in its backing file); BLKZEROOUT never unmaps.
  if (::fallocate(dst.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                  static_cast<off_t>(len)) == 0)
    return;
  std::uint64_t range[2] = {off, len};
  if (block_device && ::ioctl(dst.get(), BLKZEROOUT, range) == 0) return;
  static const std::vector<unsigned char> zeros(1 << 20, 0);
  for (std::uint64_t done = 0; done < len;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), len - done));
    dst.write_at(zeros.data(), n, off + done);
    done += n;
  }
}

// Copies `src` (a sparse file) over `dst` at `offset`: data is written,
// holes and zero blocks become zeroes in the destination.
void copy_into(const std::string& src_path, const std::string& dst_path, std::uint64_t offset) {
  Fd src(src_path, O_RDONLY);
  Fd dst(dst_path, O_WRONLY);
  struct stat st;
  if (::fstat(src.get(), &st) != 0) throw_errno("stat", src_path);
  const auto len = static_cast<std::uint64_t>(st.st_size);
  if (::fstat(dst.get(), &st) != 0) throw_errno("stat", dst_path);
  const bool block_device = S_ISBLK(st.st_mode);

  std::vector<unsigned char> buf(1 << 20);
  std::uint64_t pos = 0;
  while (pos < len) {
    signals::check();
    off_t data = ::lseek(src.get(), static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno != ENXIO) throw_errno("seek", src_path);
    auto data_pos = data < 0 ? len : static_cast<std::uint64_t>(data);
    if (data_pos > pos) {
      zero_range(dst, block_device, offset + pos, data_pos - pos);
      pos = data_pos;
      continue;
    }
    off_t hole = ::lseek(src.get(), static_cast<off_t>(pos), SEEK_HOLE);
    auto end = hole < 0 ? len : std::min(len, static_cast<std::uint64_t>(hole));
    while (pos < end) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), end - pos));
      src.read_at(buf.data(), n, pos);
      if (std::all_of(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n), [](unsigned char c) { return c == 0; }))
        zero_range(dst, block_device, offset + pos, n);
      else
        dst.write_at(buf.data(), n, offset + pos);
      pos += n;
    }
  }
  if (::fsync(dst.get()) != 0) throw_errno("fsync", dst_path);
}

// mattrib -/ lines look like "  A   H      ::/dir/file name".
std::map<std::string, std::string> parse_attrs(const std::string& text) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    std::size_t at = line.find("::/");
    if (at == std::string::npos || at + 3 >= line.size()) continue;
    std::string flags;
    for (char f : {'R', 'S', 'H'})
      if (line.substr(0, at).find(f) != std::string::npos) flags += f;
    if (!flags.empty()) out[line.substr(at + 3)] = flags;
  }
  return out;
}

std::vector<std::string> mkfs_args(const FatInfo& fi, const std::string& target) {
  std::vector<std::string> a = {"mkfs.vfat", "-F", std::to_string(fi.fat_bits), "-S", std::to_string(fi.sector_size),
                                "-s", std::to_string(fi.cluster_sectors), "-R", std::to_string(fi.reserved_sectors),
                                "-f", std::to_string(fi.num_fats), "-h", std::to_string(fi.hidden_sectors),
                                "-i", fmt::format("{:08X}", fi.volume_serial), "-D", std::to_string(fi.drive_number),
                                "--mbr=n"};
  if (fi.media == 0xF0 || fi.media >= 0xF8) a.insert(a.end(), {"-M", std::to_string(fi.media)});
  if (fi.fat_bits != 32) a.insert(a.end(), {"-r", std::to_string(fi.root_entries)});
  if (fi.fat_bits == 32 && fi.backup_boot_sector > 0 && fi.backup_boot_sector < fi.reserved_sectors)
    a.insert(a.end(), {"-b", std::to_string(fi.backup_boot_sector)});
  if (fi.heads > 0 && fi.sectors_per_track > 0)
    a.insert(a.end(), {"-g", fmt::format("{}/{}", fi.heads, fi.sectors_per_track)});
  if (!fi.label.empty()) a.insert(a.end(), {"-n", fi.label});
  a.push_back(target);
  return a;
}

// mkfs.fat sizes a filesystem in whole KiB; put back an odd trailing sector
// when it adds no cluster (so the FAT and free counts stay right).
void fix_total_sectors(const std::string& path, const FatInfo& made, const FatInfo& want) {
  if (made.total_sectors == want.total_sectors) return;
  std::uint64_t data_start = made.reserved_sectors + std::uint64_t{made.num_fats} * made.fat_sectors +
                             (std::uint64_t{made.root_entries} * 32 + made.sector_size - 1) / made.sector_size;
  if (want.total_sectors < made.total_sectors || (want.total_sectors - data_start) / made.cluster_sectors != made.clusters) {
    log::warn("rebuilt FAT filesystem has {} sectors instead of {}", made.total_sectors, want.total_sectors);
    return;
  }
  Fd fd(path, O_RDWR);
  std::vector<std::uint64_t> sectors = {0};
  if (made.fat_bits == 32 && made.backup_boot_sector > 0) sectors.push_back(made.backup_boot_sector);
  std::vector<unsigned char> bs(made.sector_size);
  for (std::uint64_t s : sectors) {
    fd.read_at(bs.data(), bs.size(), s * made.sector_size);
    if (le16(bs.data() + 19) != 0 && want.total_sectors <= 0xFFFF) {
      put_le16(bs.data() + 19, static_cast<std::uint32_t>(want.total_sectors));
    } else {
      put_le16(bs.data() + 19, 0);
      put_le32(bs.data() + 32, static_cast<std::uint32_t>(want.total_sectors));
    }
    fd.write_at(bs.data(), bs.size(), s * made.sector_size);
  }
}

}  // namespace

void check_fat_storable(const std::string& root) {
  auto fail = [&](const std::string& rel, const std::string& why) {
    Error e(ErrorKind::Usage, fmt::format("cannot write {} into the FAT filesystem: {}", rel, why));
    e.op = "commit FAT stage";
    e.target = root + "/" + rel;
    throw e;
  };
  std::vector<std::string> pending = {""};
  while (!pending.empty()) {
    std::string rel_dir = pending.back();
    pending.pop_back();
    std::string abs_dir = rel_dir.empty() ? root : root + "/" + rel_dir;
    std::vector<std::string> names;
    DIR* d = ::opendir(abs_dir.c_str());
    if (d == nullptr) throw_errno("open directory", abs_dir);
    while (dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
    ::closedir(d);
    std::set<std::string> folded;  // FAT names are case-insensitive
    for (const auto& n : names) {
      std::string rel = rel_dir.empty() ? n : rel_dir + "/" + n;
      struct stat st;
      if (::lstat((root + "/" + rel).c_str(), &st) != 0) throw_errno("stat", root + "/" + rel);
      if (S_ISLNK(st.st_mode)) fail(rel, "it is a symbolic link (FAT has none)");
      if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) fail(rel, "it is a special file (device, FIFO or socket)");
      if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > kMaxFatFile)
        fail(rel, "FAT files must be smaller than 4 GiB");
      for (unsigned char c : n)
        if (c < 0x20 || std::strchr("\"*:<>?\\|", c) != nullptr)
          fail(rel, c < 0x20 ? fmt::format("the name contains control character 0x{:02X}", c)
                             : fmt::format("the name contains '{}', which FAT does not allow", static_cast<char>(c)));
      if (n.back() == '.' || n.back() == ' ') fail(rel, "FAT names cannot end with a dot or a space");
      std::string lower = n;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!folded.insert(lower).second) fail(rel, "another name in the same directory differs only in case");
      if (S_ISDIR(st.st_mode)) pending.push_back(rel);
    }
  }
}

FatInfo read_fat_info(const std::string& image, std::uint64_t offset) {
  Fd fd(image, O_RDONLY);
  unsigned char bs[512];
  fd.read_at(bs, sizeof bs, offset);
  FatInfo fi;
  fi.sector_size = le16(bs + 11);
  fi.cluster_sectors = bs[13];
  fi.reserved_sectors = le16(bs + 14);
  fi.num_fats = bs[16];
  fi.root_entries = le16(bs + 17);
  fi.media = bs[21];
  std::uint32_t fat16_sectors = le16(bs + 22);
  fi.sectors_per_track = le16(bs + 24);
  fi.heads = le16(bs + 26);
  fi.hidden_sectors = le32(bs + 28);
  fi.total_sectors = le16(bs + 19) != 0 ? le16(bs + 19) : le32(bs + 32);
  fi.fat_sectors = fat16_sectors != 0 ? fat16_sectors : le32(bs + 36);

  auto pow2 = [](std::uint32_t v) { return v != 0 && (v & (v - 1)) == 0; };
  bool valid = (bs[0] == 0xEB || bs[0] == 0xE9) && pow2(fi.sector_size) && fi.sector_size >= 512 &&
               fi.sector_size <= 4096 && pow2(fi.cluster_sectors) && fi.reserved_sectors >= 1 && fi.num_fats >= 1 &&
               fi.fat_sectors != 0 && fi.total_sectors != 0;
  std::uint64_t root_dir_sectors = (std::uint64_t{fi.root_entries} * 32 + fi.sector_size - 1) / std::max(fi.sector_size, 1u);
  std::uint64_t data_start = fi.reserved_sectors + std::uint64_t{fi.num_fats} * fi.fat_sectors + root_dir_sectors;
  if (!valid || data_start >= fi.total_sectors)
    throw_usage(fmt::format("no FAT filesystem at offset {} of {}", offset, image));
  fi.clusters = (fi.total_sectors - data_start) / fi.cluster_sectors;
  // Same rule as Linux and mtools: FAT32 has no 16-bit FAT size.
  fi.fat_bits = fat16_sectors == 0 ? 32 : fi.clusters < 4085 ? 12 : 16;

  const unsigned char* ext = bs + (fi.fat_bits == 32 ? 64 : 36);
  fi.drive_number = ext[0];
  std::string bpb_label;
  if (ext[2] == 0x29 || ext[2] == 0x28) fi.volume_serial = le32(ext + 3);
  if (ext[2] == 0x29) bpb_label = trim_label(ext + 7);
  if (bpb_label == "NO NAME") bpb_label.clear();
  std::uint32_t root_cluster = 0;
  if (fi.fat_bits == 32) {
    root_cluster = le32(bs + 44);
    fi.backup_boot_sector = le16(bs + 50);
  }
  fi.volume_id = fmt::format("{:04X}-{:04X}", fi.volume_serial >> 16, fi.volume_serial & 0xFFFF);
  fi.label = root_dir_label(fd, offset, fi, root_cluster);
  if (fi.label.empty()) fi.label = bpb_label;
  return fi;
}

std::vector<std::string> mtools_env() {
  const char* path = std::getenv("PATH");
  return {
      std::string("PATH=") + (path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin"),
      "HOME=/nonexistent",  // no ~/.mtoolsrc
      "MTOOLSRC=/dev/null",
      "LC_ALL=C.UTF-8",  // long names are converted with the locale's charset
      "TZ=UTC",          // FAT times are local times; images use UTC
      "MTOOLS_SKIP_CHECK=1",
      "MTOOLS_LOWER_CASE=0",
      "MTOOLS_NO_VFAT=0",
      "MTOOLS_DOTTED_DIR=0",
      "MTOOLS_NAME_NUMERIC_TAIL=1",
      "MTOOLS_TWENTY_FOUR_HOUR_CLOCK=1",
  };
}

FatStage::FatStage(std::string image, std::uint64_t offset, std::uint64_t size, std::string dir, bool read_only)
    : image_(std::move(image)),
      offset_(offset),
      size_(size),
      dir_(fs::absolute(dir).lexically_normal().string()),
      read_only_(read_only) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  check_path_for_mtools(image_);
  check_path_for_mtools(dir_);
  info_ = read_fat_info(image_, offset_);
  if (info_.bytes() > size_)
    throw_usage(fmt::format("FAT filesystem at offset {} of {} ({} bytes) is larger than its partition ({} bytes)",
                            offset_, image_, info_.bytes(), size_));

  struct stat st;
  if (::lstat(dir_.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw_usage(fmt::format("FAT stage directory {} exists and is not a directory", dir_));
    if (!fs::is_empty(dir_)) throw_usage(fmt::format("FAT stage directory {} is not empty", dir_));
  } else if (errno == ENOENT) {
    if (::mkdir(dir_.c_str(), 0755) != 0) throw_errno("create directory", dir_);
    created_dir_ = true;
  } else {
    throw_errno("stat", dir_);
  }
  entry_ = TeardownEntry("remove FAT stage " + dir_, [this] { discard(); });
  try {
    extract();
  } catch (...) {
    try {
      discard();
    } catch (const std::exception& e) {
      log::error("cleaning up FAT stage {}: {}", dir_, e.what());
    }
    throw;  // entry_ is dismissed with the unfinished object
  }
}

FatStage::~FatStage() {
  try {
    discard();
  } catch (const std::exception& e) {
    log::error("discarding FAT stage {}: {}", dir_, e.what());
  }
}

void FatStage::extract() {
  log::info("staging FAT{} filesystem (label '{}', id {}) at offset {} of {} in {}{}", info_.fat_bits, info_.label,
            info_.volume_id, offset_, image_, dir_, read_only_ ? " (read-only)" : "");
  std::string spec = mtools_image(image_, offset_);
  RunOptions o = mtools_opts();
  o.capture_stdout = true;
  // An empty filesystem makes mattrib and mcopy report "not found": nothing to stage.
  RunResult listing = run({"mattrib", "-/", "-i", spec, "::/"}, o);
  bool empty = listing.exit_code != 0 && !listing.tail.empty() && listing.tail.back().find("not found") != std::string::npos;
  if (listing.exit_code != 0 && !empty) run_checked({"mattrib", "-/", "-i", spec, "::/"}, o);
  if (!empty) {
    attrs_ = parse_attrs(listing.out);
    run_checked({"mcopy", "-s", "-m", "-i", spec, "::", dir_ + "/"}, mtools_opts());
  }
  // mcopy gives the root the FAT root's (absent) timestamp; a bind-mounted
  // /boot/efi dated 2098 would surprise tools.
  if (::utimensat(AT_FDCWD, dir_.c_str(), nullptr, 0) != 0) throw_errno("set times of", dir_);
  snapshot_ = scan(dir_, true);
}

std::map<std::string, FatStage::Node> FatStage::scan(const std::string& root, bool hash) {
  std::map<std::string, Node> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string path = it->path().string();
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) throw_errno("stat", path);
    Node n{};
    n.type = S_ISREG(st.st_mode) ? 'f' : S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'o';
    n.size = n.type == 'f' ? static_cast<std::uint64_t>(st.st_size) : 0;
    n.mtime_ns = std::int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    if (hash && n.type == 'f') n.hash = hash_file(path);
    out.emplace(it->path().lexically_relative(root).string(), n);
  }
  if (ec) throw_system("walk", root, ec.value());
  return out;
}

bool FatStage::changed() const {
  if (done_) return false;
  auto now = scan(dir_, false);
  if (now.size() != snapshot_.size()) return true;
  for (const auto& [path, n] : now) {
    auto it = snapshot_.find(path);
    if (it == snapshot_.end()) return true;
    const Node& o = it->second;
    if (n.type != o.type || n.size != o.size) return true;
    // Directory mtimes move whenever an entry is added or removed, which the
    // path comparison already sees; FAT keeps no separate meaning for them.
    if (n.type == 'f' && n.mtime_ns != o.mtime_ns) return true;
  }
  for (const auto& [path, n] : now)
    if (n.type == 'f' && hash_file(dir_ + "/" + path) != snapshot_.at(path).hash) return true;
  return false;
}

void FatStage::commit() {
  if (done_) return;
  if (read_only_) {
    log::debug("FAT stage {} is read-only: nothing written", dir_);
  } else if (!changed()) {
    log::info("FAT filesystem at offset {} of {} unchanged: nothing written", offset_, image_);
  } else {
    write_back();
  }
  discard();
}

void FatStage::write_back() {
  fault::point("write back FAT stage", dir_);
  check_fat_storable(dir_);
  log::info("writing {} back into the FAT{} filesystem at offset {} of {}", dir_, info_.fat_bits, offset_, image_);

  // Built beside the stage (same work area, not a possibly small /tmp), and
  // checked before the partition is touched.
  std::string tmp = dir_ + ".fat-XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw_errno("create a temporary file for", dir_);
  RemoveUnlessKept remove_tmp(tmp);  // never kept
  int rc = ::ftruncate(fd, static_cast<off_t>(info_.bytes()));
  int err = errno;
  ::close(fd);
  if (rc != 0) throw_system("resize", tmp, err);

  run_checked(mkfs_args(info_, tmp));
  FatInfo made = read_fat_info(tmp, 0);
  if (made.fat_bits != info_.fat_bits || made.sector_size != info_.sector_size ||
      made.cluster_sectors != info_.cluster_sectors || made.volume_serial != info_.volume_serial ||
      made.label != info_.label)
    throw Error(ErrorKind::Internal,
                fmt::format("mkfs.vfat made FAT{} sector {} cluster {} id {} label '{}'; wanted FAT{} {} {} {} '{}'",
                            made.fat_bits, made.sector_size, made.cluster_sectors, made.volume_id, made.label,
                            info_.fat_bits, info_.sector_size, info_.cluster_sectors, info_.volume_id, info_.label));
  fix_total_sectors(tmp, made, info_);

  std::vector<std::string> top;
  for (const auto& e : fs::directory_iterator(dir_)) top.push_back(e.path().string());
  std::sort(top.begin(), top.end());
  if (!top.empty()) {
    std::vector<std::string> argv = {"mcopy", "-s", "-m", "-i", tmp};
    argv.insert(argv.end(), top.begin(), top.end());
    argv.push_back("::/");
    run_checked(argv, mtools_opts());
  }

  // Restore hidden/system/read-only bits of entries that still exist. mtools
  // would treat '[' as a wildcard, so such names keep plain attributes.
  std::map<std::string, std::vector<std::string>> by_flags;
  for (const auto& [path, flags] : attrs_) {
    struct stat st;
    if (path.find_first_of("[*?") == std::string::npos && ::lstat((dir_ + "/" + path).c_str(), &st) == 0)
      by_flags[flags].push_back("::/" + path);
  }
  for (const auto& [flags, paths] : by_flags) {
    std::vector<std::string> argv = {"mattrib", "-i", tmp};
    for (char f : flags) argv.push_back(fmt::format("+{}", static_cast<char>(std::tolower(f))));
    argv.insert(argv.end(), paths.begin(), paths.end());
    run_checked(argv, mtools_opts());
  }

  run_checked({"fsck.fat", "-n", tmp});
  copy_into(tmp, image_, offset_);
}

void FatStage::discard() {
  if (done_) return;
  auto mounted = mounts_under(dir_);
  if (!mounted.empty())
    throw Error(ErrorKind::System,
                fmt::format("not removing FAT stage {}: {} is still mounted", dir_, mounted.front()));
  remove_tree_one_fs(dir_, !created_dir_);
  done_ = true;
  entry_.dismiss();
}

}  // namespace imgrecipe
