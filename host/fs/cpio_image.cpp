#include "host/fs/cpio_image.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/log.hpp"
#include "host/system/signals.hpp"
#include "host/system/tool_output.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe::cpio_image {
namespace {

constexpr std::uint64_t kMaxFile = 0xFFFFFFFFull;  // newc's 8 hex digits

std::string relative_pattern(const std::string& p) {
  std::size_t i = 0;
  while (i < p.size() && p[i] == '/') ++i;
  std::string r = p.substr(i);
  while (!r.empty() && r.back() == '/') r.pop_back();
  return r;
}

// The compressed output: a zstd stream written to `fd`.
class ZstdWriter {
 public:
  ZstdWriter(int fd, std::string path, int level) : fd_(fd), path_(std::move(path)), cctx_(ZSTD_createCCtx()) {
    if (cctx_ == nullptr) throw Error(ErrorKind::System, "zstd: cannot allocate a compression context");
    ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_checksumFlag, 1);
    out_.resize(ZSTD_CStreamOutSize());
  }
  void write(const void* data, std::size_t n) {
    offset_ += n;
    ZSTD_inBuffer in{data, n, 0};
    while (in.pos < in.size) step(&in, ZSTD_e_continue);
  }
  void pad(std::size_t align) {
    static const char zeros[4] = {0, 0, 0, 0};
    std::size_t r = static_cast<std::size_t>(offset_ % align);
    if (r != 0) write(zeros, align - r);
  }
  void finish() {
    ZSTD_inBuffer in{nullptr, 0, 0};
    while (step(&in, ZSTD_e_end) != 0) {
    }
  }

 private:
  std::size_t step(ZSTD_inBuffer* in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer o{out_.data(), out_.size(), 0};
    std::size_t left = ZSTD_compressStream2(cctx_.get(), &o, in, mode);
    if (ZSTD_isError(left)) throw Error(ErrorKind::System, fmt::format("zstd: {}", ZSTD_getErrorName(left)));
    const char* p = out_.data();
    std::size_t n = o.pos;
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw_errno("write", path_);
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return left;
  }
  struct Free {
    void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
  };
  int fd_;
  std::string path_;
  std::unique_ptr<ZSTD_CCtx, Free> cctx_;
  std::string out_;
  std::uint64_t offset_ = 0;  // uncompressed bytes so far (cpio alignment)
};

class Archiver {
 public:
  Archiver(ZstdWriter& w, const std::string& source, const CreateOptions& o) : w_(w), source_(source), opts_(o) {
    for (const auto& p : o.exclude) {
      std::string r = relative_pattern(p);
      if (r.empty() || r.find('\n') != std::string::npos)
        throw Error(ErrorKind::Usage, fmt::format("cpio exclusion '{}': empty or has a newline", p));
      patterns_.push_back(r);
    }
  }

  void run() {
    UniqueFd root(::open(source_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (root.get() < 0) throw_errno("open", source_);
    struct stat st {};
    if (::fstat(root.get(), &st) != 0) throw_errno("stat", source_);
    st.st_mode = S_IFDIR | 0755;  // the kernel's root directory
    entry(".", st, -1, "");
    walk(root.get(), "");
    for (const auto& [rel, target] : opts_.add_symlinks) {
      std::string r = relative_pattern(rel);
      struct stat ls {};
      if (::fstatat(root.get(), r.c_str(), &ls, AT_SYMLINK_NOFOLLOW) == 0) continue;
      struct stat s {};
      s.st_mode = S_IFLNK | 0777;
      s.st_mtime = st.st_mtime;
      s.st_nlink = 1;
      s.st_ino = 0;
      symlink_entry(r, s, target);
    }
    std::string trailer = newc_header("TRAILER!!!", 0, 0, 0, 0, 1, 0, 0, 0, 0);
    w_.write(trailer.data(), trailer.size());
    w_.write("TRAILER!!!", 11);
    w_.pad(4);
  }

  Stats stats;

 private:
  void walk(int dirfd, const std::string& prefix) {
    int fd = ::dup(dirfd);
    if (fd < 0) throw_errno("dup", source_ + "/" + prefix);
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      throw_errno("opendir", source_ + "/" + prefix);
    }
    std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
    ::rewinddir(d);
    std::vector<std::string> names;
    errno = 0;
    while (dirent* de = ::readdir(d)) {
      std::string n = de->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    if (errno != 0) throw_errno("readdir", source_ + "/" + prefix);
    std::sort(names.begin(), names.end());  // reproducible order
    for (const auto& n : names) {
      signals::check();
      std::string rel = prefix.empty() ? n : prefix + "/" + n;
      if (excluded(rel, patterns_)) continue;
      struct stat st {};
      if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("stat", source_ + "/" + rel);
      if (S_ISDIR(st.st_mode)) {
        entry(rel, st, -1, "");
        UniqueFd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub.get() < 0) throw_errno("open", source_ + "/" + rel);
        walk(sub.get(), rel);
      } else if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
        ssize_t k = ::readlinkat(dirfd, n.c_str(), target.data(), target.size());
        if (k < 0) throw_errno("readlink", source_ + "/" + rel);
        target.resize(static_cast<std::size_t>(k));
        symlink_entry(rel, st, target);
      } else if (S_ISREG(st.st_mode)) {
        if (static_cast<std::uint64_t>(st.st_size) > kMaxFile)
          throw Error(ErrorKind::Usage, fmt::format("{}: {} bytes: a cpio (newc) initramfs holds files below 4 GiB",
                                                    source_ + "/" + rel, st.st_size));
        UniqueFd f(::openat(dirfd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (f.get() < 0) throw_errno("open", source_ + "/" + rel);
        entry(rel, st, f.get(), "");
      } else {
        entry(rel, st, -1, "");  // devices, fifos, sockets: header only
      }
    }
  }

  void symlink_entry(const std::string& rel, const struct stat& st, const std::string& target) {
    entry(rel, st, -1, target);
  }

  // Header, name and content of one entry. A hard link's content is stored
  // once, with its first name; later names have size 0 and the same inode
  // number, and the kernel links them to the first.
  void entry(const std::string& rel, const struct stat& st, int fd, const std::string& link_target) {
    std::uint32_t ino;
    std::uint32_t nlink = S_ISDIR(st.st_mode) ? 2 : 1;
    bool content = true;
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = links_.find(key);
      if (it != links_.end()) {
        ino = it->second;
        content = false;
      } else {
        ino = next_ino_++;
        links_.emplace(key, ino);
      }
      nlink = static_cast<std::uint32_t>(st.st_nlink);
    } else {
      ino = next_ino_++;
    }
    std::uint64_t size = 0;
    if (S_ISLNK(st.st_mode)) size = link_target.size();
    else if (S_ISREG(st.st_mode) && content) size = static_cast<std::uint64_t>(st.st_size);
    std::int64_t mtime = opts_.timestamp ? *opts_.timestamp : static_cast<std::int64_t>(st.st_mtime);
    bool dev = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
    std::string h = newc_header(rel, ino, st.st_mode, st.st_uid, st.st_gid, nlink, mtime, size,
                                dev ? major(st.st_rdev) : 0, dev ? minor(st.st_rdev) : 0);
    w_.write(h.data(), h.size());
    w_.write(rel.c_str(), rel.size() + 1);
    w_.pad(4);
    ++stats.entries;
    if (S_ISLNK(st.st_mode)) {
      w_.write(link_target.data(), link_target.size());
    } else if (size > 0) {
      copy(fd, size, rel);
    }
    w_.pad(4);
  }

  void copy(int fd, std::uint64_t size, const std::string& rel) {
    buf_.resize(1 << 20);
    std::uint64_t left = size;
    while (left > 0) {
      ssize_t n = ::read(fd, buf_.data(), static_cast<std::size_t>(std::min<std::uint64_t>(left, buf_.size())));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("read", source_ + "/" + rel);
      }
      if (n == 0)
        throw Error(ErrorKind::System, fmt::format("{}: the file shrank while it was archived", source_ + "/" + rel));
      w_.write(buf_.data(), static_cast<std::size_t>(n));
      left -= static_cast<std::uint64_t>(n);
      stats.bytes += static_cast<std::uint64_t>(n);
    }
  }

  ZstdWriter& w_;
  const std::string& source_;
  const CreateOptions& opts_;
  std::vector<std::string> patterns_;
  std::map<std::pair<dev_t, ino_t>, std::uint32_t> links_;
  std::uint32_t next_ino_ = 1;
  std::string buf_;
};

}  // namespace

std::string newc_header(const std::string& name, std::uint32_t ino, std::uint32_t mode, std::uint32_t uid,
                        std::uint32_t gid, std::uint32_t nlink, std::int64_t mtime, std::uint64_t size,
                        std::uint32_t rdev_major, std::uint32_t rdev_minor) {
  if (size > kMaxFile) throw Error(ErrorKind::Usage, fmt::format("cpio entry {}: size {} above 4 GiB", name, size));
  auto t = static_cast<std::uint32_t>(std::clamp<std::int64_t>(mtime, 0, 0xFFFFFFFFll));
  return fmt::format("070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}", ino, mode,
                     uid, gid, nlink, t, static_cast<std::uint32_t>(size), 0u, 0u, rdev_major, rdev_minor,
                     static_cast<std::uint32_t>(name.size() + 1), 0u);
}

bool excluded(const std::string& rel, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns)
    if (::fnmatch(p.c_str(), rel.c_str(), FNM_PATHNAME) == 0 || p == rel) return true;
  return false;
}

Stats create(const std::string& source, const std::string& out, const CreateOptions& opts) {
  if (opts.level < 1 || opts.level > 19)
    throw Error(ErrorKind::Usage, fmt::format("cpio level {}: expected 1..19", opts.level));
  fault::point("write initramfs", out);
  ToolOutput output(out);
  UniqueFd fd = open_or_throw(output.tmp(), O_WRONLY | O_TRUNC);
  ZstdWriter w(fd.get(), output.tmp(), opts.level);
  Archiver a(w, source, opts);
  a.run();
  w.finish();
  output.commit();
  log::info("initramfs {}: {} entries, {} MiB of file contents", out, a.stats.entries, a.stats.bytes >> 20);
  return a.stats;
}

}  // namespace imgrecipe::cpio_image
