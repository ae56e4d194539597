#include "host/image/format.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "host/disk/loop.hpp"
#include "host/system/process.hpp"
#include "host/image/header.hpp"
#include "host/system/cleanup.hpp"
#include "host/system/disk_space.hpp"
#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/log.hpp"
#include "host/system/owner_lock.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/unique_fd.hpp"
#include "host/system/workspace.hpp"

namespace imgrecipe::image {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kVhdFooterSize = 512;
constexpr std::uint32_t kVhdFixed = 2, kVhdDynamic = 3, kVhdDifferencing = 4;

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint64_t be64(const unsigned char* p) { return (std::uint64_t{be32(p)} << 32) | be32(p + 4); }

struct VhdFooter {
  std::uint32_t disk_type = 0;
  std::uint64_t current_size = 0;
  bool at_end = true;  // false: only the copy at offset 0 (dynamic disks) was usable
};

bool has_cookie(const unsigned char* f) { return std::memcmp(f, "conectix", 8) == 0; }

// Ones' complement of the byte sum, the checksum field (64..67) excluded.
bool checksum_ok(const unsigned char* f) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < kVhdFooterSize; ++i)
    if (i < 64 || i >= 68) sum += f[i];
  return ~sum == be32(f + 64);
}

Error bad_input(const std::string& path, const std::string& why) {
  Error e(ErrorKind::Usage, fmt::format("input image {}: {}", path, why));
  e.target = path;
  return e;
}

// The VHD footer of `path`, if it is a VHD. Throws on a corrupt footer.
std::optional<VhdFooter> read_vhd_footer(int fd, const std::string& path, std::uint64_t size,
                                         const unsigned char* head, std::size_t head_len) {
  std::array<unsigned char, kVhdFooterSize> tail{};
  bool end_cookie = size >= kVhdFooterSize &&
                    read_some_at(fd, tail.data(), tail.size(), size - kVhdFooterSize, path) == tail.size() &&
                    has_cookie(tail.data());
  const unsigned char* f = nullptr;
  VhdFooter out;
  if (end_cookie) {
    if (!checksum_ok(tail.data())) throw bad_input(path, "VHD footer checksum mismatch (corrupt VHD)");
    f = tail.data();
  } else if (head_len == kVhdFooterSize && has_cookie(head) && checksum_ok(head) && be32(head + 60) == kVhdDynamic) {
    // Dynamic disks keep a footer copy at offset 0; qemu falls back to it too.
    log::warn("{}: VHD footer missing at the end of the file; using the copy at offset 0", path);
    f = head;
    out.at_end = false;
  } else {
    return std::nullopt;
  }
  out.disk_type = be32(f + 60);
  out.current_size = be64(f + 48);
  if (out.disk_type == kVhdDifferencing) {
    Error e(ErrorKind::Unsupported,
            fmt::format("input image {}: differencing VHDs are not supported; merge it into its parent first "
                        "(qemu-img convert -O vpc)", path));
    e.target = path;
    throw e;
  }
  if (out.disk_type != kVhdFixed && out.disk_type != kVhdDynamic)
    throw bad_input(path, fmt::format("unsupported VHD disk type {}", out.disk_type));
  return out;
}

// ISO 9660: a volume descriptor ("CD001" after its type byte) at byte 32768;
// also true of hybrid ISOs that carry an MBR or GPT for USB boot.
bool is_iso9660(int fd, const std::string& path) {
  char id[5] = {};
  return read_some_at(fd, id, sizeof id, 32769, path) == sizeof id && std::memcmp(id, "CD001", 5) == 0;
}

struct Probe {
  Format format;
  std::uint64_t file_size;
  std::optional<VhdFooter> vhd;
  bool block_device;
};

// Input images are untrusted: a reference to any other file (a backing
// file, an external data file, a parent disk) would make qemu-img read that
// host file into the working copy, so it is refused with the name it gives.
void refuse_references(int fd, const std::string& path, Format format, std::uint64_t file_size) {
  ReadAt read = [&](std::uint64_t offset, std::size_t length) {
    std::string buf(length, '\0');
    buf.resize(read_some_at(fd, buf.data(), length, offset, path));
    return buf;
  };
  try {
    if (format == Format::Qcow2) {
      Qcow2Header h = parse_qcow2_header(read, file_size);
      if (!h.backing_file.empty())
        throw bad_input(path, fmt::format("it names a backing file ({}); backing files are refused because input "
                                          "images are untrusted — flatten it first with qemu-img convert",
                                          h.backing_file));
      if (h.external_data || !h.data_file.empty())
        throw bad_input(path, fmt::format("it uses an external data file ({}); external data files are refused "
                                          "because input images are untrusted — make it self-contained first "
                                          "with qemu-img convert",
                                          h.data_file.empty() ? "name not recorded" : h.data_file));
      if (h.crypt_method != 0)
        throw bad_input(path, "it is an encrypted qcow2 image; encrypted inputs are not supported");
    } else if (format == Format::Vhdx) {
      VhdxInfo v = parse_vhdx_metadata(read);
      if (v.has_parent)
        throw bad_input(path, fmt::format("it is a differencing VHDX (parent: {}); parent disks are refused "
                                          "because input images are untrusted, and qemu cannot read differencing "
                                          "VHDX — merge it into a self-contained image first",
                                          v.parent.empty() ? "not recorded" : v.parent));
    }
  } catch (const HeaderError& e) {
    throw bad_input(path, e.what());
  }
}

Probe probe(const std::string& path) {
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw_errno("stat", path);
  if (S_ISDIR(st.st_mode)) throw bad_input(path, "it is a directory, not a disk image file");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    throw bad_input(path, "it is neither a regular file nor a block device");
  Probe p{Format::Raw, static_cast<std::uint64_t>(st.st_size), std::nullopt, S_ISBLK(st.st_mode)};
  if (p.block_device && ::ioctl(fd.get(), BLKGETSIZE64, &p.file_size) != 0) throw_errno("get size of", path);
  if (p.file_size == 0) throw bad_input(path, "it is empty (0 bytes)");
  std::array<unsigned char, kVhdFooterSize> head{};
  std::size_t n = read_some_at(fd.get(), head.data(), head.size(), 0, path);
  auto starts = [&](std::string_view magic, std::size_t at = 0) {
    return n >= at + magic.size() && std::memcmp(head.data() + at, magic.data(), magic.size()) == 0;
  };
  if (starts("QFI\xfb")) {
    p.format = Format::Qcow2;
  } else if (starts("vhdxfile")) {
    p.format = Format::Vhdx;
  } else if (starts("KDMV") || starts("# Disk DescriptorFile")) {
    throw bad_input(path, "VMDK images are not supported (convert with qemu-img first)");
  } else if (starts("\x7f\x10\xda\xbe", 0x40)) {
    throw bad_input(path, "VDI images are not supported (convert with qemu-img first)");
  } else if ((p.vhd = read_vhd_footer(fd.get(), path, p.file_size, head.data(), n))) {
    p.format = p.vhd->disk_type == kVhdFixed ? Format::VhdFixed : Format::Vhd;
  } else if (is_iso9660(fd.get(), path)) {
    Error e(ErrorKind::Unsupported,
            fmt::format("input image {}: it is an ISO 9660 image (e.g. a LiveOS ISO); ISO inputs are not supported "
                        "(expected vhd, vhd-fixed, vhdx, qcow2 or raw)",
                        path));
    e.target = path;
    throw e;
  }
  refuse_references(fd.get(), path, p.format, p.file_size);
  return p;
}

// A JSON string literal (qemu's json: filenames).
std::string json_string(const std::string& v) {
  std::string out = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') out += fmt::format("\\{}", static_cast<char>(c));
    else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

// qemu's -o/--image-opts syntax: a literal comma is written twice.
std::string escape_opt(const std::string& v) {
  std::string out;
  for (char c : v) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

std::string absolute(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

struct Source {
  // A json: filename with every node spelled out: the driver is never probed,
  // no protocol prefix is parsed from the file name, and "backing": null
  // keeps qemu from opening any backing file, even one named in a header we
  // misread (refuse_references is the first line, this the second).
  std::string spec;
  std::uint64_t size = 0;  // the expected raw size, 0 if qemu knows best
};

// How qemu should open `path` (probed as `p`) as `format`, read-only.
Source source_for(const std::string& path, Format format, const Probe& p) {
  std::string file = fmt::format("\"file\":{{\"driver\":\"{}\",\"filename\":{}}}",
                                 p.block_device ? "host_device" : "file", json_string(absolute(path)));
  auto spec = [&](const std::string& driver_opts) {
    return fmt::format("json:{{{},\"backing\":null,{}}}", driver_opts, file);
  };
  bool is_vhd = format == Format::Vhd || format == Format::VhdFixed;
  if (is_vhd && p.format != format)
    throw bad_input(path, fmt::format("expected a {} image, found {}", name(format), name(p.format)));
  switch (format) {
    case Format::Raw: return {spec("\"driver\":\"raw\"")};
    case Format::Qcow2: return {spec("\"driver\":\"qcow2\"")};
    case Format::Vhdx: return {spec("\"driver\":\"vhdx\"")};
    case Format::Vhd:
      // The footer's size, not qemu's CHS-geometry guess for old creators.
      return {spec("\"driver\":\"vpc\",\"force_size_calc\":\"current_size\""), p.vhd->current_size};
    case Format::VhdFixed: {
      // A fixed VHD is the raw disk followed by the footer (qemu reports it as
      // raw, footer included): read it as raw, cut at the footer's size.
      std::uint64_t sz = p.vhd->current_size;
      if (sz % 512 != 0 || sz > p.file_size - kVhdFooterSize)
        throw bad_input(path, fmt::format("fixed VHD footer size {} does not fit the file ({} bytes)", sz,
                                          p.file_size));
      return {spec(fmt::format("\"driver\":\"raw\",\"size\":{}", sz)), sz};
    }
  }
  throw Error(ErrorKind::Internal, "unknown image format");
}

// A new empty file; fails if `path` exists.
void create_empty(const std::string& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("create", path);
  ::close(fd);
}

void fsync_path(const std::string& path, int flags) {
  UniqueFd fd = open_or_throw(path, flags);
  if (::fsync(fd.get()) != 0) throw_errno("fsync", path);
}

mode_t current_umask() {
  mode_t m = ::umask(0);
  ::umask(m);
  return m;
}

std::uint64_t file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw_errno("stat", path);
  return static_cast<std::uint64_t>(st.st_size);
}

// The value of a member of the outermost JSON object (nested objects are
// skipped), as its literal text; strings are returned without quotes.
std::optional<std::string> json_member(std::string_view s, std::string_view key) {
  auto read_string = [&](std::size_t& i) {  // s[i] == '"'; leaves i after the closing quote
    std::string out;
    for (++i; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      out += s[i];
    }
    ++i;
    return out;
  };
  auto skip_ws = [&](std::size_t& i) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  int depth = 0;
  bool expect_key = false;
  for (std::size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == '"') {
      bool is_key = depth == 1 && expect_key;
      std::string str = read_string(i);
      if (!is_key) continue;
      expect_key = false;
      skip_ws(i);
      if (i >= s.size() || s[i] != ':') return std::nullopt;
      ++i;
      skip_ws(i);
      if (str != key) continue;
      if (i < s.size() && s[i] == '"') return read_string(i);
      std::size_t start = i;
      while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
             !std::isspace(static_cast<unsigned char>(s[i])))
        ++i;
      return std::string(s.substr(start, i - start));
    }
    if (c == '{' || c == '[') {
      ++depth;
      expect_key = c == '{' && depth == 1;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 1) {
      expect_key = true;
    }
    ++i;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> json_u64(std::string_view json, std::string_view key) {
  auto v = json_member(json, key);
  if (!v) return std::nullopt;
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size()) return std::nullopt;
  return out;
}

// qemu reads past the end of a truncated qcow2 as zeros and "succeeds"; its
// check sees the clusters beyond the end (metadata only: fast).
void check_qcow2(const std::string& input, const Source& src, std::uint64_t file_size) {
  RunOptions opts;
  opts.capture_stdout = true;
  opts.tail_lines = 3;
  RunResult r = run({"qemu-img", "check", "--output=json", src.spec}, opts);
  auto end = json_u64(r.out, "image-end-offset");
  bool past_end = std::any_of(r.tail.begin(), r.tail.end(),
                              [](const std::string& l) { return l.find("end of the file") != std::string::npos; });
  if ((end && *end > file_size) || past_end)
    throw bad_input(input, fmt::format("the qcow2 image is truncated: the file has {} bytes and its tables point "
                                       "beyond that (incomplete download or copy?)",
                                       file_size));
  if (r.exit_code == 1 || r.exit_code == 2) {
    std::string last = r.tail.empty() ? "" : ": " + r.tail.back();
    throw bad_input(input, fmt::format("the qcow2 image is corrupt (qemu-img check found {} errors{})",
                                       json_u64(r.out, "corruptions").value_or(0), last));
  }
}

}  // namespace

Format detect_format(const std::string& path) { return probe(path).format; }

std::string_view name(Format format) {
  switch (format) {
    case Format::Raw: return "raw";
    case Format::Qcow2: return "qcow2";
    case Format::Vhd: return "vhd";
    case Format::VhdFixed: return "vhd-fixed";
    case Format::Vhdx: return "vhdx";
  }
  return "?";
}

Format parse_format(std::string_view text) {
  for (Format f : {Format::Raw, Format::Qcow2, Format::Vhd, Format::VhdFixed, Format::Vhdx})
    if (name(f) == text) return f;
  throw_usage(fmt::format("unknown image format '{}' (valid: raw, qcow2, vhd, vhd-fixed, vhdx)", text));
}

namespace {

// Starts the writeback of a file being written by another process every
// 50 ms until destroyed, so its final fsync finds little left: the disk
// writes while qemu-img still converts, instead of after it. Best effort.
class WriteBehind {
 public:
  explicit WriteBehind(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_.get() >= 0) thread_ = std::thread([this] { loop(); });
  }
  ~WriteBehind() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stop_; }))
      ::sync_file_range(fd_.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
  }
  UniqueFd fd_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// Converts `input` into `out`, an existing empty file that qemu-img rewrites
// in place (same inode), so a loop device can be reserved for it first.
// `durable`: `out` is an output, to be fsynced at the end.
void convert_into(const std::string& input, Format format, const std::string& out, bool durable) {
  Probe p = probe(input);
  Source src = source_for(input, format, p);
  if (p.format == Format::Qcow2) check_qcow2(input, src, p.file_size);
  log::info("converting {} ({}) to the raw working copy {}", input, name(format), out);
  LoopDevice::reserve(out);
  try {
    std::optional<WriteBehind> behind;
    if (durable) behind.emplace(out);
    // -W: out-of-order writes; a raw target ends up the same, sooner.
    run_checked({"qemu-img", "convert", "-W", src.spec, "-O", "raw", out});
  } catch (...) {
    LoopDevice::drop_reserved(out);
    throw;
  }
  std::uint64_t got = file_size(out);
  if (src.size != 0 && got != src.size)
    throw Error(ErrorKind::Internal,
                fmt::format("qemu-img made a {}-byte raw copy of {}, expected {}", got, input, src.size));
}

struct OutputTemp {
  fs::path target;      // the output, absolute
  std::string tmp;      // `.<name>.tmp-XXXXXX` beside it, empty
  fs::path created;     // the outermost directory created for it, if any
  // Locked while this run lives, so a later run removes it only once this
  // run is dead (killed); shared by the copies teardown entries hold.
  std::shared_ptr<OwnedTempFile> owned;
};

// Removes the directories make_output_temp created, innermost first, if they
// are empty (after a failure nothing is left, not even a directory).
void remove_created_dirs(const OutputTemp& t) {
  if (t.created.empty()) return;
  for (fs::path d = t.target.parent_path(); ::rmdir(d.c_str()) == 0 && d != t.created; d = d.parent_path()) {
  }
}

// Creates the temporary file an output is written to (its directory too),
// with permission bits `mode`.
OutputTemp make_output_temp(const std::string& out, mode_t mode) {
  OutputTemp t{absolute(out), {}, {}, {}};
  fs::path dir = t.target.parent_path();
  if (t.target.filename().empty()) throw_usage(fmt::format("output path {} names no file", out));
  for (fs::path d = dir; !d.empty() && !fs::exists(d); d = d.parent_path()) t.created = d;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw_system("create output directory", dir.string(), ec.value());
  try {
    t.owned = std::make_shared<OwnedTempFile>(t.target.string());
  } catch (...) {
    remove_created_dirs(t);
    throw;
  }
  t.tmp = t.owned->path();
  int fd = t.owned->dup_fd();
  int rc = ::fchmod(fd, mode);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(t.tmp.c_str());
    remove_created_dirs(t);
    throw_system("chmod", t.tmp, err);
  }
  return t;
}

// The mode of an output file: mkstemp makes 0600, an output gets the usual one.
mode_t output_mode() { return 0666 & ~current_umask(); }

// fsync, rename into place, fsync of the directory (the rename itself).
void rename_durably(const std::string& tmp, const fs::path& target) {
  fsync_path(tmp, O_RDONLY);
  if (::rename(tmp.c_str(), target.c_str()) != 0) throw_errno("rename into place", target.string());
}

// Output temporaries that outlive the call creating them (raw working copies
// in the output directory), each removed at teardown unless committed.
std::map<std::string, TeardownEntry>& pending_outputs() {
  static auto* m = new std::map<std::string, TeardownEntry>();  // never destroyed, see loop.cpp
  return *m;
}

}  // namespace

void convert_to_raw(const std::string& input, Format format, const std::string& raw_out) {
  fault::point("convert", input);
  space::require_for_copy(input, raw_out);
  std::string out = absolute(raw_out);
  struct stat in_st, out_st;
  if (::stat(input.c_str(), &in_st) != 0) throw_errno("stat", input);
  if (::stat(out.c_str(), &out_st) == 0) {
    if (in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino)
      throw_usage(fmt::format("the raw working copy {} would overwrite the input image", raw_out));
    if (!S_ISREG(out_st.st_mode)) throw_usage(fmt::format("{} exists and is not a regular file", raw_out));
    if (::unlink(out.c_str()) != 0) throw_errno("remove", out);  // created fresh, never reused
  }
  RemoveUnlessKept guard(out);
  create_empty(out, 0600);
  convert_into(input, format, out, false);  // a scratch copy: never written back for its own sake
  guard.keep();
}

std::string output_working_copy(const std::string& input, Format format, const std::string& out) {
  // 0600 while it is being customized; the output's mode at commit.
  OutputTemp t = make_output_temp(out, 0600);
  TeardownEntry entry("remove " + t.tmp, [t] {
    LoopDevice::drop_reserved(t.tmp);
    ::unlink(t.tmp.c_str());
    remove_created_dirs(t);
  });
  try {
    convert_into(input, format, t.tmp, true);
  } catch (...) {
    entry.release();
    throw;
  }
  pending_outputs()[t.tmp] = std::move(entry);
  return t.tmp;
}

void commit_output(const std::string& tmp, const std::string& out) {
  auto& pending = pending_outputs();
  auto it = pending.find(tmp);
  if (it == pending.end())
    throw Error(ErrorKind::Internal, fmt::format("{} is not a pending output working copy", tmp));
  LoopDevice::drop_reserved(tmp);
  fs::path target = absolute(out);
  if (target.parent_path() != fs::path(tmp).parent_path())
    throw Error(ErrorKind::Internal, fmt::format("{} is not in the directory of {}", tmp, out));
  log::info("writing {} as raw (the working copy itself)", out);
  if (::chmod(tmp.c_str(), output_mode()) != 0) throw_errno("chmod", tmp);
  rename_durably(tmp, target);
  pending.erase(it);  // dismisses its removal
  fsync_path(target.parent_path().string(), O_RDONLY | O_DIRECTORY);
}

namespace {

std::vector<std::string> output_options(Format format) {
  switch (format) {
    case Format::Raw: return {"-O", "raw"};
    case Format::Qcow2: return {"-O", "qcow2"};
    case Format::Vhd: return {"-O", "vpc", "-o", "subformat=dynamic,force_size=on"};
    case Format::VhdFixed: return {"-O", "vpc", "-o", "subformat=fixed,force_size=on"};
    case Format::Vhdx: return {"-O", "vhdx", "-o", "subformat=dynamic,block_size=2097152"};
  }
  throw Error(ErrorKind::Internal, "unknown image format");
}

bool is_vhd(Format f) { return f == Format::Vhd || f == Format::VhdFixed; }

// One `qemu-img convert <source...> -O <format> <temporary>` beside `out`,
// then fsync and rename: nothing is left on error or signal. `discard_dir`
// as for write_output.
void write_with_qemu(const std::vector<std::string>& source, const std::string& out, Format format,
                     const std::string& discard_dir) {
  OutputTemp t = make_output_temp(out, output_mode());
  TeardownEntry dirs("remove created output directories", [t] { remove_created_dirs(t); });
  try {
    RemoveUnlessKept guard(t.tmp);  // gone before the directories are
    log::info("writing {} as {}", out, name(format));
    std::vector<std::string> argv = {"qemu-img", "convert"};
    argv.insert(argv.end(), source.begin(), source.end());
    for (auto& o : output_options(format)) argv.push_back(o);
    argv.push_back(t.tmp);
    {
      WriteBehind behind(t.tmp);
      run_checked(argv);
    }
    std::string remove_error;
    std::thread remover;
    if (!discard_dir.empty() && !keeping_working_files()) {
      remover = std::thread([&] {
        try {
          remove_tree_one_fs(discard_dir);
        } catch (const std::exception& e) {
          remove_error = e.what();
        }
      });
    }
    try {
      rename_durably(t.tmp, t.target);
    } catch (...) {
      if (remover.joinable()) remover.join();
      throw;
    }
    if (remover.joinable()) remover.join();
    if (!remove_error.empty()) log::warn("removing the working directory {}: {}", discard_dir, remove_error);
    guard.keep();
  } catch (...) {
    dirs.release();
    throw;
  }
  dirs.dismiss();
  fsync_path(t.target.parent_path().string(), O_RDONLY | O_DIRECTORY);
}

}  // namespace

void write_output(const std::string& raw, const std::string& out, Format format, const std::string& discard_dir) {
  fault::point("write output", out);
  LoopDevice::drop_reserved(raw);  // never mounted: not needed any more
  if (is_vhd(format)) {
    std::uint64_t size = file_size(raw);
    if (size % kMiB != 0) {
      log::info("growing {} from {} to {} bytes: VHD sizes must be whole MiB", raw, size, round_up_mib(size));
      if (::truncate(raw.c_str(), static_cast<off_t>(round_up_mib(size))) != 0) throw_errno("grow", raw);
    }
  }
  write_with_qemu({"--image-opts", "driver=raw,file.driver=file,file.filename=" + escape_opt(absolute(raw))}, out,
                  format, discard_dir);
}

void convert_image(const std::string& input, Format in_format, const std::string& out, Format format,
                   const std::string& scratch_dir) {
  fault::point("convert", input);
  Probe p = probe(input);
  Source src = source_for(input, in_format, p);
  if (p.format == Format::Qcow2) check_qcow2(input, src, p.file_size);
  if (is_vhd(format)) {
    std::uint64_t size = src.size;
    if (size == 0) {
      std::string json = capture({"qemu-img", "info", "--output=json", src.spec});
      auto v = json_u64(json, "virtual-size");
      if (!v) throw Error(ErrorKind::Internal, fmt::format("qemu-img info {}: no virtual-size in its output", input));
      size = *v;
    }
    if (size % kMiB != 0) {
      // The disk grows to whole MiB: only a raw copy of it can be grown.
      if (scratch_dir.empty())
        throw_usage(fmt::format("{} is {} bytes, not whole MiB: a VHD output needs a raw copy grown to whole MiB, "
                                "and no scratch directory was given for it", input, size));
      log::info("{} is {} bytes, not whole MiB: converting through a raw copy in {}", input, size, scratch_dir);
      std::string raw = (fs::path(scratch_dir) / "convert.raw").string();
      RemoveUnlessKept scratch(raw);
      convert_to_raw(input, in_format, raw);
      LoopDevice::drop_reserved(raw);
      write_output(raw, out, format);
      return;
    }
  }
  log::info("converting {} ({}) to {}", input, name(in_format), name(format));
  write_with_qemu({src.spec}, out, format, {});
}

ImageInfo inspect(const std::string& path) {
  Probe p = probe(path);
  Source src = source_for(path, p.format, p);
  std::string json = capture({"qemu-img", "info", "--output=json", src.spec});
  auto virtual_size = json_u64(json, "virtual-size");
  if (!virtual_size)
    throw Error(ErrorKind::Internal, fmt::format("qemu-img info {}: no virtual-size in its output", path));
  return {p.format, *virtual_size, json_u64(json, "actual-size").value_or(0)};
}

}  // namespace imgrecipe::image
