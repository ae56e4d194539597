#include "host/fs/cpio_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "host/fs/root_dir.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/signals.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe::cpio_read {
namespace {

constexpr std::size_t kBuf = 1 << 20;
constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

bool is_zstd(const char* p, std::size_t n) { return n >= 4 && std::memcmp(p, kZstdMagic, 4) == 0; }

// What a segment that is neither newc nor zstd looks like, for the error.
std::string describe(const char* p, std::size_t n) {
  auto starts = [&](const char* magic, std::size_t k) { return n >= k && std::memcmp(p, magic, k) == 0; };
  if (starts("\x1f\x8b", 2)) return "gzip data";
  if (starts("\xfd" "7zXZ", 5)) return "xz data";
  if (starts("\x02\x21\x4c\x18", 4)) return "lz4 data";
  if (starts("BZh", 3)) return "bzip2 data";
  if (starts("\x89LZO", 4)) return "lzo data";
  if (starts("\x5d\x00\x00", 3)) return "lzma data";
  return "unknown data";
}

// The archive file, read through one buffer; offset() is the file offset of
// the next unread byte.
class RawFile {
 public:
  explicit RawFile(const std::string& path) : path_(path), fd_(open_or_throw(path, O_RDONLY)) { buf_.resize(kBuf); }
  // At least `n` bytes available unless the file ends first; returns avail().
  std::size_t fill(std::size_t n) {
    if (avail() >= n) return avail();
    std::memmove(buf_.data(), buf_.data() + pos_, avail());
    len_ -= pos_;
    pos_ = 0;
    while (len_ < n && !eof_) {
      ssize_t k = ::read(fd_.get(), buf_.data() + len_, buf_.size() - len_);
      if (k < 0) {
        if (errno == EINTR) continue;
        throw_errno("read", path_);
      }
      if (k == 0) eof_ = true;
      len_ += static_cast<std::size_t>(k);
    }
    return avail();
  }
  const char* data() const { return buf_.data() + pos_; }
  std::size_t avail() const { return len_ - pos_; }
  void consume(std::size_t n) {
    pos_ += n;
    offset_ += n;
  }
  std::uint64_t offset() const { return offset_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  UniqueFd fd_;
  std::string buf_;
  std::size_t pos_ = 0, len_ = 0;
  std::uint64_t offset_ = 0;
  bool eof_ = false;
};

// The bytes of one segment; read() returns 0 at its end.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::size_t read(char* out, std::size_t n) = 0;
  virtual std::string where(std::uint64_t offset) const = 0;
};

// An uncompressed newc archive: the file itself, from the segment's start.
class PlainSource : public Source {
 public:
  explicit PlainSource(RawFile& raw) : raw_(raw), start_(raw.offset()) {}
  std::size_t read(char* out, std::size_t n) override {
    if (raw_.fill(1) == 0) return 0;
    std::size_t k = std::min(n, raw_.avail());
    std::memcpy(out, raw_.data(), k);
    raw_.consume(k);
    return k;
  }
  std::string where(std::uint64_t offset) const override {
    return fmt::format("{}: offset {}", raw_.path(), start_ + offset);
  }

 private:
  RawFile& raw_;
  std::uint64_t start_;
};

// One or more zstd frames, decompressed as they are read; the segment ends
// after a frame that the file does not follow with another.
class ZstdSource : public Source {
 public:
  explicit ZstdSource(RawFile& raw) : raw_(raw), start_(raw.offset()), dctx_(ZSTD_createDCtx()) {
    if (dctx_ == nullptr) throw Error(ErrorKind::System, "zstd: cannot allocate a decompression context");
    out_.resize(ZSTD_DStreamOutSize());
  }
  std::size_t read(char* out, std::size_t n) override {
    while (pos_ == len_) {
      if (!refill()) return 0;
    }
    std::size_t k = std::min(n, len_ - pos_);
    std::memcpy(out, out_.data() + pos_, k);
    pos_ += k;
    return k;
  }
  std::string where(std::uint64_t offset) const override {
    return fmt::format("{}: zstd stream at offset {}, decompressed offset {}", raw_.path(), start_, offset);
  }

 private:
  bool refill() {
    if (frame_done_) {
      raw_.fill(4);
      if (!is_zstd(raw_.data(), raw_.avail())) return false;
      frame_done_ = false;
    }
    if (raw_.fill(1) == 0 && !pending_)
      throw Error(ErrorKind::Config, fmt::format("{}: zstd stream at offset {} is truncated (the file ends at {})",
                                                 raw_.path(), start_, raw_.offset()));
    ZSTD_inBuffer in{raw_.data(), raw_.avail(), 0};
    ZSTD_outBuffer o{out_.data(), out_.size(), 0};
    std::size_t r = ZSTD_decompressStream(dctx_.get(), &o, &in);
    if (ZSTD_isError(r))
      throw Error(ErrorKind::Config, fmt::format("{}: zstd stream at offset {}: corrupt data near offset {}: {}",
                                                 raw_.path(), start_, raw_.offset(), ZSTD_getErrorName(r)));
    raw_.consume(in.pos);
    pos_ = 0;
    len_ = o.pos;
    pending_ = o.pos == o.size;
    if (r == 0) frame_done_ = true;
    return true;
  }
  struct Free {
    void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
  };
  RawFile& raw_;
  std::uint64_t start_;
  std::unique_ptr<ZSTD_DCtx, Free> dctx_;
  std::string out_;
  std::size_t pos_ = 0, len_ = 0;
  bool pending_ = false;     // the last call filled the output: more may be buffered
  bool frame_done_ = false;  // at a frame's end
};

// Exact reads from a source, with the segment offset for alignment and
// errors, and one byte of look-ahead for the padding between archives.
class Reader {
 public:
  explicit Reader(Source& s) : s_(s) {}
  std::uint64_t offset() const { return offset_; }
  [[noreturn]] void bad(std::uint64_t at, const std::string& msg) const {
    throw Error(ErrorKind::Config, fmt::format("cpio archive {}: {}", s_.where(at), msg));
  }
  std::size_t read_some(char* out, std::size_t n) {
    if (n == 0) return 0;
    if (has_peek_) {
      out[0] = peek_;
      has_peek_ = false;
      ++offset_;
      return 1;
    }
    std::size_t k = s_.read(out, n);
    offset_ += k;
    return k;
  }
  void read_exact(char* out, std::size_t n, const char* what) {
    std::uint64_t at = offset_;
    while (n > 0) {
      std::size_t k = read_some(out, n);
      if (k == 0) bad(at, fmt::format("truncated {} (the data ends at offset {})", what, offset_));
      out += k;
      n -= k;
    }
  }
  void skip(std::uint64_t n, const char* what) {
    char buf[65536];
    while (n > 0) {
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof buf));
      read_exact(buf, k, what);
      n -= k;
    }
  }
  void align4(const char* what) { skip((4 - offset_ % 4) % 4, what); }
  // After an archive's trailer: skips zero padding; false at the end.
  bool more() {
    char c;
    for (;;) {
      if (read_some(&c, 1) == 0) return false;
      if (c != 0) {
        peek_ = c;
        has_peek_ = true;
        --offset_;
        return true;
      }
    }
  }

 private:
  Source& s_;
  std::uint64_t offset_ = 0;
  char peek_ = 0;
  bool has_peek_ = false;
};

struct Header {
  std::uint64_t at = 0;  // offset of the header in its segment
  std::uint32_t ino = 0, mode = 0, uid = 0, gid = 0, nlink = 0, mtime = 0, size = 0;
  std::uint32_t dev_major = 0, dev_minor = 0, rdev_major = 0, rdev_minor = 0;
  std::string name;  // as in the archive
  std::string path;  // absolute image path ("/" for the root)
};

// Where the entries go: nowhere (scan) or a directory (extract).
class Sink {
 public:
  virtual ~Sink() = default;
  // Consumes exactly h.size bytes of content from `r`.
  virtual void entry(const Header& h, Reader& r) = 0;
};

class NullSink : public Sink {
 public:
  void entry(const Header& h, Reader& r) override { r.skip(h.size, "file content"); }
};

// The image path of an archive name; ".." components are refused (a
// kernel would stay in its rootfs too, but such a name is never legitimate).
std::string entry_path(Reader& r, std::uint64_t at, const std::string& name) {
  std::string out;
  std::size_t i = 0;
  while (i <= name.size()) {
    std::size_t j = name.find('/', i);
    if (j == std::string::npos) j = name.size();
    std::string part = name.substr(i, j - i);
    if (part == "..") r.bad(at, fmt::format("entry '{}': a name with a '..' component is refused", name));
    if (!part.empty() && part != ".") out += "/" + part;
    i = j + 1;
  }
  return out.empty() ? "/" : out;
}

class Parser {
 public:
  Parser(Reader& r, Sink& sink, Stats& stats) : r_(r), sink_(sink), stats_(stats) {}

  // One archive, up to and including its trailer.
  void archive() {
    for (;;) {
      signals::check();
      Header h;
      h.at = r_.offset();
      char raw[110];
      r_.read_exact(raw, sizeof raw, "header");
      if (std::memcmp(raw, "070701", 6) != 0 && std::memcmp(raw, "070702", 6) != 0)
        r_.bad(h.at, fmt::format("bad header magic '{}' (expected 070701: a newc cpio archive)",
                                 printable(std::string(raw, 6))));
      std::uint32_t f[13];
      for (int k = 0; k < 13; ++k) f[k] = hex(raw + 6 + 8 * k, h.at, k);
      h.ino = f[0], h.mode = f[1], h.uid = f[2], h.gid = f[3], h.nlink = f[4], h.mtime = f[5], h.size = f[6];
      h.dev_major = f[7], h.dev_minor = f[8], h.rdev_major = f[9], h.rdev_minor = f[10];
      std::uint32_t namesize = f[11];
      if (namesize == 0 || namesize > PATH_MAX)
        r_.bad(h.at, fmt::format("name size {} out of range 1..{}", namesize, PATH_MAX));
      h.name.resize(namesize);
      r_.read_exact(h.name.data(), namesize, "name");
      if (h.name.find('\0') != namesize - 1)
        r_.bad(h.at, fmt::format("name '{}' is not one NUL-terminated string", printable(h.name)));
      h.name.pop_back();
      r_.align4("name padding");
      if (h.name == "TRAILER!!!") {
        r_.skip(h.size, "trailer");
        r_.align4("trailer padding");
        return;
      }
      h.path = entry_path(r_, h.at, h.name);
      check_type(h);
      sink_.entry(h, r_);
      r_.align4("content padding");
      ++stats_.entries;
      if (S_ISREG(h.mode)) stats_.bytes += h.size;
    }
  }

 private:
  static std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) out += (c >= 0x20 && c < 0x7f) ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02x}", c);
    return out;
  }
  std::uint32_t hex(const char* p, std::uint64_t at, int field) {
    std::uint32_t v = 0;
    for (int i = 0; i < 8; ++i) {
      char c = p[i];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0)
        r_.bad(at, fmt::format("header field {} '{}' is not hexadecimal", field, printable(std::string(p, 8))));
      v = (v << 4) | static_cast<std::uint32_t>(d);
    }
    return v;
  }
  void check_type(const Header& h) {
    auto t = h.mode & S_IFMT;
    bool known = t == S_IFREG || t == S_IFDIR || t == S_IFLNK || t == S_IFCHR || t == S_IFBLK || t == S_IFIFO ||
                 t == S_IFSOCK;
    if (!known) r_.bad(h.at, fmt::format("entry '{}': unknown file type in mode {:o}", h.name, h.mode));
    if (t == S_IFLNK && (h.size == 0 || h.size >= PATH_MAX))
      r_.bad(h.at, fmt::format("entry '{}': symlink target size {} out of range 1..{}", h.name, h.size, PATH_MAX - 1));
    if (t != S_IFREG && t != S_IFLNK && h.size != 0)
      r_.bad(h.at, fmt::format("entry '{}': a directory or special file with {} bytes of content", h.name, h.size));
    if (h.path == "/" && t != S_IFDIR) r_.bad(h.at, fmt::format("entry '{}': the root is not a directory", h.name));
  }

  Reader& r_;
  Sink& sink_;
  Stats& stats_;
};

// Creates the entries under a root directory, each through the root
// (RESOLVE_IN_ROOT for the parent, the leaf never followed).
class Extractor : public Sink {
 public:
  explicit Extractor(const std::string& root) : root_(root) { buf_.resize(kBuf); }

  void entry(const Header& h, Reader& r) override {
    if (h.path == "/") return;  // the root keeps its own attributes
    std::size_t slash = h.path.rfind('/');
    std::string parent = slash == 0 ? "/" : h.path.substr(0, slash);
    std::string leaf = h.path.substr(slash + 1);
    UniqueFd dir(open_dir(parent));
    mode_t perm = h.mode & 07777;
    switch (h.mode & S_IFMT) {
      case S_IFDIR: {
        if (::mkdirat(dir.get(), leaf.c_str(), 0700) != 0) {
          if (errno != EEXIST) throw_errno("create directory in image", h.path);
          struct stat st {};
          if (::fstatat(dir.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("stat in image", h.path);
          if (!S_ISDIR(st.st_mode)) {
            replace(dir.get(), leaf, h.path);
            if (::mkdirat(dir.get(), leaf.c_str(), 0700) != 0) throw_errno("create directory in image", h.path);
          }
        }
        UniqueFd d(::openat(dir.get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (d.get() < 0) throw_errno("open directory in image", h.path);
        attributes(d.get(), h, perm);
        dirs_.emplace_back(h.path, h.mtime);  // set last: adding entries changes it
        break;
      }
      case S_IFREG:
        regular(dir.get(), leaf, h, r, perm);
        break;
      case S_IFLNK: {
        std::string target(h.size, '\0');
        r.read_exact(target.data(), target.size(), "symlink target");
        if (target.find('\0') != std::string::npos)
          r.bad(h.at, fmt::format("entry '{}': symlink target has a NUL byte", h.name));
        replace(dir.get(), leaf, h.path);
        if (::symlinkat(target.c_str(), dir.get(), leaf.c_str()) != 0) throw_errno("create symlink in image", h.path);
        leaf_attributes(dir.get(), leaf, h, false);
        break;
      }
      default: {  // devices, fifos, sockets
        replace(dir.get(), leaf, h.path);
        dev_t dev = makedev(h.rdev_major, h.rdev_minor);
        if (::mknodat(dir.get(), leaf.c_str(), (h.mode & S_IFMT) | 0600, dev) != 0)
          throw_errno("create special file in image", h.path);
        leaf_attributes(dir.get(), leaf, h, true);
        break;
      }
    }
  }

  // Directory times, deepest last-created first, once nothing more is added.
  void finish() {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      UniqueFd d(root_.open_fd(it->first, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
      if (d.get() < 0) continue;  // replaced by a later entry
      struct timespec ts[2] = {{it->second, 0}, {it->second, 0}};
      if (::futimens(d.get(), ts) != 0) throw_errno("set times in image", it->first);
    }
  }

 private:
  int open_dir(const std::string& path) {
    int fd = root_.open_fd(path, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {  // an archive without its parent entries
      root_.mkdirs(path);
      fd = root_.open_fd(path, O_PATH | O_DIRECTORY);
    }
    if (fd < 0) throw_errno("open directory in image", path);
    return fd;
  }

  // Removes what an earlier entry left at this path (the kernel does too);
  // a non-empty directory is an error.
  static void replace(int dir, const std::string& leaf, const std::string& path) {
    if (::unlinkat(dir, leaf.c_str(), 0) == 0 || errno == ENOENT) return;
    if (errno == EISDIR && ::unlinkat(dir, leaf.c_str(), AT_REMOVEDIR) == 0) return;
    throw_errno("replace in image", path);
  }

  void regular(int dir, const std::string& leaf, const Header& h, Reader& r, mode_t perm) {
    // Hard links: the first name seen creates the file, later ones link to
    // it; the content may come with any of them (GNU cpio: the last).
    std::string* first = nullptr;
    if (h.nlink >= 2) {
      auto key = std::make_tuple(h.dev_major, h.dev_minor, h.ino);
      auto it = links_.find(key);
      if (it != links_.end()) first = &it->second;
      else links_.emplace(key, h.path);
    }
    replace(dir, leaf, h.path);
    int w;
    if (first != nullptr) {
      UniqueFd src(root_.open_fd(*first, O_PATH | O_NOFOLLOW));
      if (src.get() < 0) throw_errno("open in image", *first);
      std::string proc = fmt::format("/proc/self/fd/{}", src.get());
      if (::linkat(AT_FDCWD, proc.c_str(), dir, leaf.c_str(), AT_SYMLINK_FOLLOW) != 0)
        throw_errno("create hard link in image", fmt::format("{} -> {}", h.path, *first));
      w = ::openat(dir, leaf.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    } else {
      w = ::openat(dir, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (w < 0) throw_errno("create file in image", h.path);
    UniqueFd fd(w);
    if (h.size > 0) content(fd.get(), h, r);
    attributes(fd.get(), h, perm);
  }

  // The content, zero blocks left as holes.
  void content(int fd, const Header& h, Reader& r) {
    constexpr std::size_t kBlock = 4096;
    std::uint64_t off = 0;
    while (off < h.size) {
      signals::check();
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(h.size - off, buf_.size()));
      r.read_exact(buf_.data(), n, "file content");
      for (std::size_t b = 0; b < n; b += kBlock) {
        std::size_t k = std::min(kBlock, n - b);
        const char* p = buf_.data() + b;
        if (p[0] == 0 && std::memcmp(p, p + 1, k - 1) == 0) continue;
        write_all(fd, p, k, static_cast<off_t>(off + b), h.path);
      }
      off += n;
    }
    if (::ftruncate(fd, static_cast<off_t>(h.size)) != 0) throw_errno("write file in image", h.path);
  }

  static void write_all(int fd, const char* p, std::size_t n, off_t at, const std::string& path) {
    while (n > 0) {
      ssize_t w = ::pwrite(fd, p, n, at);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw_errno("write file in image", path);
      }
      p += w;
      n -= static_cast<std::size_t>(w);
      at += w;
    }
  }

  // Owner, then mode (chown clears set-id bits), then times.
  static void attributes(int fd, const Header& h, mode_t perm) {
    if (::fchown(fd, h.uid, h.gid) != 0) throw_errno("chown in image", h.path);
    if (::fchmod(fd, perm) != 0) throw_errno("chmod in image", h.path);
    struct timespec ts[2] = {{static_cast<time_t>(h.mtime), 0}, {static_cast<time_t>(h.mtime), 0}};
    if (!S_ISDIR(h.mode) && ::futimens(fd, ts) != 0) throw_errno("set times in image", h.path);
  }

  static void leaf_attributes(int dir, const std::string& leaf, const Header& h, bool chmod) {
    if (::fchownat(dir, leaf.c_str(), h.uid, h.gid, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("chown in image", h.path);
    if (chmod && ::fchmodat(dir, leaf.c_str(), h.mode & 07777, 0) != 0) throw_errno("chmod in image", h.path);
    struct timespec ts[2] = {{static_cast<time_t>(h.mtime), 0}, {static_cast<time_t>(h.mtime), 0}};
    if (::utimensat(dir, leaf.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("set times in image", h.path);
  }

  RootDir root_;
  std::string buf_;
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::string> links_;
  std::vector<std::pair<std::string, std::uint32_t>> dirs_;
};

Stats run(const std::string& archive, Sink& sink) {
  RawFile raw(archive);
  Stats stats;
  bool any = false;
  for (;;) {
    // Zero padding between segments.
    for (;;) {
      if (raw.fill(1) == 0) break;
      const char* p = raw.data();
      std::size_t n = raw.avail(), z = 0;
      while (z < n && p[z] == 0) ++z;
      raw.consume(z);
      if (z < n) break;
    }
    if (raw.avail() == 0) break;
    raw.fill(6);
    std::uint64_t at = raw.offset();
    if (raw.avail() >= 6 && std::memcmp(raw.data(), "07070", 5) == 0) {
      PlainSource s(raw);
      Reader r(s);
      Parser(r, sink, stats).archive();
    } else if (is_zstd(raw.data(), raw.avail())) {
      ZstdSource s(raw);
      Reader r(s);
      Parser p(r, sink, stats);
      do p.archive();
      while (r.more());
    } else {
      throw Error(ErrorKind::Config,
                  fmt::format("cpio archive {}: offset {}: {}: an initramfs is read when it is newc cpio archives, "
                              "uncompressed or zstd-compressed",
                              archive, at, describe(raw.data(), raw.avail())));
    }
    any = true;
  }
  if (!any) throw Error(ErrorKind::Config, fmt::format("cpio archive {}: empty (no newc archive)", archive));
  return stats;
}

}  // namespace

Stats scan(const std::string& archive) {
  NullSink sink;
  return run(archive, sink);
}

Stats extract(const std::string& archive, const std::string& root_dir) {
  Extractor sink(root_dir);
  Stats s = run(archive, sink);
  sink.finish();
  log::info("initramfs {} extracted into {}: {} entries, {} MiB of file contents", archive, root_dir, s.entries,
            s.bytes >> 20);
  return s;
}

}  // namespace imgrecipe::cpio_read
