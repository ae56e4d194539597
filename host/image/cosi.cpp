#include "host/image/cosi.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>

#include "host/disk/loop.hpp"
#include "host/disk/partition_table.hpp"
#include "host/disk/probe.hpp"
#include "host/system/process.hpp"
#include "host/fs/os_mount.hpp"
#include "host/image/tar_header.hpp"
#include "host/image/vhd_footer.hpp"
#include "host/fs/shrink.hpp"
#include "host/system/cleanup.hpp"
#include "host/system/digest.hpp"
#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/log.hpp"
#include "host/system/owner_lock.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/random.hpp"
#include "host/system/signals.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe::cosi {
namespace {

namespace fs = std::filesystem;

// ---- metadata.json -------------------------------------------------------

// Go's encoding/json output, indented with two spaces per level.
class Json {
 public:
  std::string text;
  void open(char c) {
    text += c;
    ++depth_;
    first_ = true;
  }
  void close(char c) {
    --depth_;
    if (!first_) newline();
    text += c;
    first_ = false;
  }
  // Starts a member ("key": ) or, with key empty, an array element.
  void key(std::string_view k) {
    if (!first_) text += ',';
    newline();
    first_ = false;
    if (!k.empty()) text += json_string(std::string(k)) + ": ";
  }
  void str(std::string_view k, const std::string& v) {
    key(k);
    text += json_string(v);
  }
  void num(std::string_view k, std::uint64_t v) {
    key(k);
    text += fmt::format("{}", v);
  }
  void raw(std::string_view k, std::string_view v) {
    key(k);
    text += v;
  }

 private:
  void newline() {
    text += '\n';
    text.append(2 * depth_, ' ');
  }
  int depth_ = 0;
  bool first_ = true;
};

void image_file(Json& j, std::string_view k, const ImageFile& f) {
  j.key(k);
  j.open('{');
  j.str("path", f.path);
  j.num("compressedSize", f.compressed_size);
  j.num("uncompressedSize", f.uncompressed_size);
  j.str("sha384", f.sha384);
  j.close('}');
}

// Decodes one UTF-8 sequence at s[i]; returns its length, 0 if invalid.
std::size_t utf8_len(const std::string& s, std::size_t i, std::uint32_t& cp) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) >> 6) != 2) return 0;
    cp = (cp << 6) | (b(k) & 0x3f);
  }
  static const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// ---- files ---------------------------------------------------------------

void write_all(int fd, const void* data, std::size_t size, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", what);
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Appends all of `src` to `dst` in the kernel (no copy through user space).
void append_file(int dst, const std::string& dst_name, const std::string& src, std::uint64_t size) {
  UniqueFd in = open_or_throw(src, O_RDONLY);
  loff_t off = 0;
  while (static_cast<std::uint64_t>(off) < size) {
    signals::check();
    std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(size - off, 1u << 30));
    ssize_t n = ::copy_file_range(in.get(), &off, dst, nullptr, chunk, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) throw_errno("write", dst_name);
      // Fall back to read/write.
      std::vector<char> buf(1 << 20);
      while (static_cast<std::uint64_t>(off) < size) {
        std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - off));
        read_full_at(in.get(), buf.data(), k, static_cast<std::uint64_t>(off), src);
        write_all(dst, buf.data(), k, dst_name);
        off += static_cast<loff_t>(k);
      }
      return;
    }
    if (n == 0) throw Error(ErrorKind::System, fmt::format("read {}: unexpected end", src));
  }
}

std::array<unsigned char, 16> parse_uuid(const std::string& s) {
  std::string hex;
  for (char c : s)
    if (c != '-') hex += c;
  std::array<unsigned char, 16> out{};
  if (hex.size() != 32 || s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
    throw_usage(fmt::format("image UUID '{}': expected 8-4-4-4-12 hexadecimal digits", s));
  for (int i = 0; i < 16; ++i) {
    auto nib = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      throw_usage(fmt::format("image UUID '{}': expected 8-4-4-4-12 hexadecimal digits", s));
    };
    out[i] = static_cast<unsigned char>(nib(hex[2 * i]) * 16 + nib(hex[2 * i + 1]));
  }
  return out;
}

std::uint64_t le(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

mode_t current_umask() {
  mode_t m = ::umask(0);
  ::umask(m);
  return m;
}

void fsync_path(const std::string& path, int flags) {
  UniqueFd fd = open_or_throw(path, flags);
  if (::fsync(fd.get()) != 0) throw_errno("fsync", path);
}

// A compressed image in the work directory, removed when this goes away.
struct Compressed {
  std::string path;
  ImageFile file;
  std::unique_ptr<RemoveUnlessKept> guard;
};

Compressed compress(int disk_fd, const std::string& disk, std::uint64_t offset, std::uint64_t length,
                    const std::string& work_dir, const std::string& name, const std::array<unsigned char, 16>& uuid,
                    const zstd::Options& zo) {
  Compressed c;
  std::string templ = work_dir + "/." + name + ".XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  fault::point("create", templ);
  int raw = ::mkostemp(buf.data(), O_CLOEXEC);
  if (raw < 0) throw_errno("create", templ);
  UniqueFd fd(raw);
  c.path = buf.data();
  c.guard = std::make_unique<RemoveUnlessKept>(c.path);
  Hasher sha(HashAlgo::Sha384);
  std::uint64_t size = 0;
  auto sink = [&](const void* d, std::size_t n) {
    write_all(fd.get(), d, n, c.path);
    sha.update(d, n);
    size += n;
  };
  std::string frame = zstd::skippable_frame(uuid);
  sink(frame.data(), frame.size());
  zstd::compress_region(disk_fd, disk, offset, length, zo, sink);
  c.file.path = "images/" + name;
  c.file.compressed_size = size;
  c.file.uncompressed_size = length;
  c.file.sha384 = sha.hex_final();
  log::debug("{}: {} bytes compressed to {}", c.file.path, length, size);
  return c;
}

void check_partition(const std::string& disk, const Partition& p, const std::string& fstype) {
  if (fstype.empty()) return;
  std::string what = fmt::format("partition {} ({})", p.number, fstype);
  auto loop = LoopDevice::attach(disk, p.start, p.size, true);
  if (fstype == "vfat") {
    std::vector<std::string> argv = {"fsck.fat", "-n", loop->path()};
    RunResult r = run(argv);
    if (r.exit_code != 0) {
      Error c = command_error(argv, r, "", false);
      Error e(ErrorKind::Command, fmt::format("{} is damaged: its read-only check {}", what, c.what()));
      e.op = "check filesystem";
      e.target = disk;
      e.argv = c.argv;
      e.exit_code = c.exit_code;
      e.output_tail = c.output_tail;
      throw e;
    }
  } else {
    check_unmounted_filesystem(loop->path(), fstype, what);
  }
  loop->detach();
}

// Pads the tar at the end of `fd` with zeros (a hole) to a whole MiB and
// appends a fixed-VHD footer of that size: ALIC's baremetal-image.
void append_vhd_footer(int fd, const std::string& path) {
  fault::point("write vhd footer", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) throw_errno("stat", path);
  constexpr std::uint64_t kMiB = 1024 * 1024;
  const std::uint64_t size = (static_cast<std::uint64_t>(st.st_size) + kMiB - 1) / kMiB * kMiB;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) throw_errno("pad to a whole MiB", path);
  const vhd::Footer footer = vhd::fixed_footer(size, vhd::timestamp_of(::time(nullptr)), parse_uuid(random_uuid()));
  std::size_t done = 0;
  while (done < footer.size()) {
    ssize_t n = ::pwrite(fd, footer.data() + done, footer.size() - done, static_cast<off_t>(size + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_errno("write the VHD footer of", path);
    done += static_cast<std::size_t>(n);
  }
  log::info("padded to {} bytes and appended a fixed-VHD footer (baremetal-image)", size);
}

}  // namespace

std::string json_string(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string o = "\"";
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\n': o += "\\n"; break;
        case '\r': o += "\\r"; break;
        case '\t': o += "\\t"; break;
        case '\b': o += "\\b"; break;
        case '\f': o += "\\f"; break;
        case '<': case '>': case '&':
          o += "\\u00";
          o += hex[c >> 4];
          o += hex[c & 15];
          break;
        default:
          if (c < 0x20) {
            o += "\\u00";
            o += hex[c >> 4];
            o += hex[c & 15];
          } else {
            o += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    std::size_t n = utf8_len(s, i, cp);
    if (n == 0) {
      o += "\\ufffd";  // invalid UTF-8, replaced as Go does
      ++i;
    } else if (cp == 0x2028 || cp == 0x2029) {
      o += fmt::format("\\u{:04x}", cp);
      i += n;
    } else {
      o.append(s, i, n);
      i += n;
    }
  }
  return o + "\"";
}

std::string metadata_json(const Metadata& m) {
  Json j;
  j.open('{');
  j.str("version", m.version);
  j.str("osArch", m.os_arch);
  j.key("disk");
  j.open('{');
  j.num("size", m.disk_size);
  j.str("type", "gpt");
  j.num("lbaSize", m.lba_size);
  j.key("gptRegions");
  j.open('[');
  for (const auto& r : m.regions) {
    j.key("");
    j.open('{');
    image_file(j, "image", r.image);
    j.str("type", r.type);
    if (r.number > 0) j.num("number", static_cast<std::uint64_t>(r.number));
    j.close('}');
  }
  j.close(']');
  j.close('}');
  j.key("images");
  j.open('[');
  for (const auto& f : m.images) {
    j.key("");
    j.open('{');
    image_file(j, "image", f.image);
    j.str("mountPoint", f.mount_point);
    j.str("fsType", f.fs_type);
    j.str("fsUuid", f.fs_uuid);
    j.str("partType", f.part_type);
    if (f.verity) {
      j.key("verity");
      j.open('{');
      image_file(j, "image", f.verity->image);
      j.str("roothash", f.verity->root_hash);
      if (f.verity->hash_offset != 0) j.num("hashOffset", f.verity->hash_offset);
      j.close('}');
    } else {
      j.raw("verity", "null");
    }
    j.close('}');
  }
  j.close(']');
  j.str("osRelease", m.os_release);
  j.str("id", m.id);
  j.key("bootloader");
  j.open('{');
  j.str("type", m.bootloader.type);
  if (m.bootloader.type == "systemd-boot") {
    j.key("systemdBoot");
    j.open('{');
    j.key("entries");
    j.open('[');
    for (const auto& e : m.bootloader.entries) {
      j.key("");
      j.open('{');
      j.str("type", e.type);
      j.str("path", e.path);
      j.str("cmdline", e.cmdline);
      j.str("kernel", e.kernel);
      j.close('}');
    }
    j.close(']');
    j.close('}');
  }
  j.close('}');
  if (m.packages.empty()) {
    j.raw("osPackages", "null");  // Go's nil slice
  } else {
    j.key("osPackages");
    j.open('[');
    for (const auto& p : m.packages) {
      j.key("");
      j.open('{');
      j.str("name", p.name);
      j.str("version", p.version);
      j.str("release", p.release);
      j.str("arch", p.arch);
      j.close('}');
    }
    j.close(']');
  }
  j.key("compression");
  j.open('{');
  j.num("maxWindowLog", static_cast<std::uint64_t>(m.max_window_log));
  j.close('}');
  j.close('}');
  return j.text;
}

std::uint64_t primary_gpt_bytes(const std::string& disk, std::uint64_t ss) {
  UniqueFd fd = open_or_throw(disk, O_RDONLY);
  std::vector<unsigned char> h(92);
  read_full_at(fd.get(), h.data(), h.size(), ss, disk, "read the GPT header of");
  if (std::string(h.begin(), h.begin() + 8) != "EFI PART")
    throw_usage(fmt::format("{}: no GPT header at LBA 1 (COSI needs a GPT disk)", disk));
  std::uint64_t entries_lba = le(&h[72], 8), count = le(&h[80], 4), entry_size = le(&h[84], 4);
  if (count == 0 || entry_size == 0)
    throw_usage(fmt::format("{}: invalid GPT header ({} entries of {} bytes)", disk, count, entry_size));
  std::uint64_t end = entries_lba * ss + count * entry_size;
  return (end + ss - 1) / ss * ss;
}

std::vector<Shrunk> shrink_ext_filesystems(const std::string& disk, bool only_filling, const std::set<int>& skip) {
  std::vector<Shrunk> out;
  PartitionTable t = read_partition_table(disk);
  for (const auto& p : t.partitions) {
    if (skip.count(p.number)) {
      log::info("partition {} not shrunk: it is dm-verity data or hash", p.number);
      continue;
    }
    FsInfo f = probe_filesystem(disk, p.start, p.size);
    if (f.type != "ext2" && f.type != "ext3" && f.type != "ext4") continue;
    if (only_filling) {
      std::uint64_t fs_bytes = ext_filesystem_size(disk, p.start);
      if (fs_bytes != p.size) {
        log::info("partition {} ({}) not shrunk: its filesystem ({} bytes) does not fill the partition ({} bytes)",
                  p.number, f.type, fs_bytes, p.size);
        continue;
      }
    }
    log::info("shrinking partition {} ({})", p.number, f.type);
    out.push_back({p.number, shrink_ext_partition(disk, p.number)});
  }
  return out;
}

Metadata write(const std::string& disk, const std::string& out, const Inputs& in, const Options& opts) {
  fault::point("write cosi", out);
  zstd::check_options(opts.zstd);
  PartitionTable table = read_partition_table(disk);
  if (table.type != "gpt") throw_usage(fmt::format("{}: COSI needs a GPT disk, it has a {} table", disk, table.type));
  if (in.bootloader.type != "grub" && in.bootloader.type != "systemd-boot")
    throw_usage(fmt::format("COSI boot loader type '{}': expected grub or systemd-boot", in.bootloader.type));
  if (in.os_arch.empty()) throw_usage("COSI: the OS architecture is not known");
  std::string id = in.image_uuid.empty() ? random_uuid() : in.image_uuid;
  auto uuid = parse_uuid(id);

  fs::path target = fs::absolute(out).lexically_normal();
  if (target.filename().empty()) throw_usage(fmt::format("output path {} names no file", out));
  std::string dir = target.parent_path().string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw_system("create output directory", dir, ec.value());
  std::string work_dir = opts.work_dir.empty() ? dir : opts.work_dir;
  // ALIC: images/<output name without its extension>_<N>.raw.zst.
  std::string base = target.stem().string();

  Metadata m;
  m.os_arch = in.os_arch;
  m.os_release = in.os_release;
  m.id = id;
  m.bootloader = in.bootloader;
  m.packages = in.packages;
  m.lba_size = table.sector_size;
  m.max_window_log = opts.zstd.window_log;
  UniqueFd disk_fd = open_or_throw(disk, O_RDONLY);
  struct stat st;
  if (::fstat(disk_fd.get(), &st) != 0) throw_errno("stat", disk);
  m.disk_size = static_cast<std::uint64_t>(st.st_size);

  auto parts = table.partitions;
  std::sort(parts.begin(), parts.end(), [](const Partition& a, const Partition& b) { return a.number < b.number; });
  for (const auto& mp : in.mount_points) {
    const int number = mp.first;  // named: clang 14 cannot capture a structured binding
    if (std::none_of(parts.begin(), parts.end(), [&](const Partition& p) { return p.number == number; }))
      throw_usage(fmt::format("COSI: mount point {} is on partition {}, which {} does not have", mp.second, number,
                              disk));
  }
  std::set<int> hash_partitions;
  for (const auto& v : in.verity) {
    const int data = v.first, hash = v.second.hash_partition;
    for (int n : {data, hash}) {
      if (std::none_of(parts.begin(), parts.end(), [&](const Partition& p) { return p.number == n; }))
        throw_usage(fmt::format("COSI: verity partition {} is not on {}", n, disk));
    }
    if (v.second.root_hash.empty()) throw_usage(fmt::format("COSI: verity of partition {} has no root hash", data));
    if (in.mount_points.find(data) == in.mount_points.end())
      throw_usage(fmt::format("COSI: verity data partition {} is not mounted in the OS", data));
    if (hash != data) hash_partitions.insert(hash);
  }

  std::vector<Compressed> files;
  const std::uint64_t gpt_bytes = primary_gpt_bytes(disk, table.sector_size);
  log::info("COSI: compressing the primary GPT ({} bytes)", gpt_bytes);
  files.push_back(compress(disk_fd.get(), disk, 0, gpt_bytes, work_dir, base + "_gpt.raw.zst", uuid, opts.zstd));
  m.regions.push_back({files.back().file, "primary-gpt", 0});
  for (const auto& p : parts) {
    FsInfo f = probe_filesystem(disk, p.start, p.size);
    if (opts.check_filesystems) check_partition(disk, p, f.type);
    log::info("COSI: compressing partition {} ({}, {} bytes)", p.number, f.type.empty() ? "no filesystem" : f.type,
              p.size);
    files.push_back(compress(disk_fd.get(), disk, p.start, p.size, work_dir,
                             fmt::format("{}_{}.raw.zst", base, p.number), uuid, opts.zstd));
    m.regions.push_back({files.back().file, "partition", p.number});
    auto mp = in.mount_points.find(p.number);
    // A hash partition is folded into its data filesystem's `verity`.
    if (mp != in.mount_points.end() && !mp->second.empty() && !f.type.empty() && !hash_partitions.count(p.number)) {
      m.images.push_back({files.back().file, mp->second, f.type, f.uuid, p.type, std::nullopt});
    }
  }
  // The verity objects, once every partition's image is known.
  for (auto& fsys : m.images) {
    const std::string path = fsys.image.path;
    auto region = std::find_if(m.regions.begin(), m.regions.end(), [&](const Region& r) { return r.image.path == path; });
    auto v = in.verity.find(region->number);
    if (v == in.verity.end()) continue;
    const int hash = v->second.hash_partition;
    auto hr = std::find_if(m.regions.begin(), m.regions.end(),
                           [&](const Region& r) { return r.type == "partition" && r.number == hash; });
    fsys.verity = VerityImage{hr->image, v->second.root_hash, v->second.hash_offset};
  }
  std::size_t carried = 0;
  for (const auto& f : m.images) carried += f.verity ? 1 : 0;
  if (carried != in.verity.size())
    throw_usage(fmt::format("COSI: {} verity device(s) but {} data filesystem(s) found to carry them", in.verity.size(),
                            carried));
  const std::string json = metadata_json(m);

  OwnedTempFile owned(target.string());
  std::string tmp = owned.path();
  UniqueFd fd(owned.dup_fd());
  RemoveUnlessKept guard(tmp);
  if (::fchmod(fd.get(), 0666 & ~current_umask()) != 0) throw_errno("chmod", tmp);
  log::info("writing {} as {}", out, opts.vhd_footer ? "baremetal-image" : "cosi");
  auto put = [&](const std::string& s) { write_all(fd.get(), s.data(), s.size(), tmp); };
  put(tar::ustar_block("cosi-marker", 0, 0400));
  put(tar::file_header("metadata.json", json.size()));
  put(json);
  put(std::string(tar::padding(json.size()), '\0'));
  for (const auto& c : files) {
    put(tar::file_header(c.file.path, c.file.compressed_size));
    append_file(fd.get(), tmp, c.path, c.file.compressed_size);
    put(std::string(tar::padding(c.file.compressed_size), '\0'));
  }
  put(tar::end_of_archive());
  if (opts.vhd_footer) append_vhd_footer(fd.get(), tmp);
  if (::fsync(fd.get()) != 0) throw_errno("fsync", tmp);
  if (::close(fd.release()) != 0) throw_errno("close", tmp);
  if (::rename(tmp.c_str(), target.c_str()) != 0) throw_errno("rename into place", target.string());
  guard.keep();
  fsync_path(dir, O_RDONLY | O_DIRECTORY);
  return m;
}

}  // namespace imgrecipe::cosi
