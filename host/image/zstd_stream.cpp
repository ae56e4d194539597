#include "host/image/zstd_stream.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_c_stableInBuffer (in libzstd since 1.4.5)
#include <zstd.h>

#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/signals.hpp"

namespace imgrecipe::zstd {
namespace {

constexpr std::size_t kChunk = 1 << 20;
// Static storage without a destructor: a call left running at exit may still read it.
alignas(64) const char kZeros[kChunk] = {};

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
using CCtxPtr = std::unique_ptr<ZSTD_CCtx, CCtxFree>;

void check(std::size_t rc, const char* what) {
  if (ZSTD_isError(rc)) throw Error(ErrorKind::Internal, fmt::format("zstd: {}: {}", what, ZSTD_getErrorName(rc)));
}

void set(ZSTD_CCtx* c, ZSTD_cParameter p, int v, const char* what) { check(ZSTD_CCtx_setParameter(c, p, v), what); }

int worker_count(int requested) {
  if (requested > 0) return requested;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Runs ZSTD_compressStream2 calls, with the context and the buffers zstd
// reads and writes during a call. Multithreaded, a call can block until
// running jobs finish (ZSTDMT_flushProduced waits for the oldest job when no
// input fits; the round buffer waits for long-distance matching to move on;
// ZSTD_e_end waits for the last jobs), and so does ZSTD_freeCCtx: with
// 64 MiB jobs at level 19 that was minutes. So the calls run on a thread of
// their own while the caller waits polling for SIGINT/SIGTERM; on a signal
// or an error the caller leaves at once, and the thread frees the context
// when its call returns. That thread never touches the caller's file or
// sink, only what it co-owns here.
class Stream {
 public:
  Stream(CCtxPtr c, bool own_thread) : s_(std::make_shared<Shared>()) {
    s_->cctx = std::move(c);
    if (!own_thread) return;
    // The caller, not this thread nor zstd's workers (created from it), gets the signals.
    sigset_t block, old;
    sigemptyset(&block);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    try {
      t_ = std::thread(run, s_);
    } catch (...) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (!t_.joinable()) return;
    {
      std::lock_guard<std::mutex> l(s_->m);
      s_->quit = true;
    }
    s_->cv.notify_all();
    // A finished frame is freed at once; an abandoned one waits for zstd's jobs.
    if (finished_) t_.join();
    else t_.detach();
  }
  char* in() { return s_->in.data(); }
  std::vector<char>& out() { return s_->out; }

  std::size_t compress(ZSTD_inBuffer& in, ZSTD_outBuffer& out, ZSTD_EndDirective mode) {
    std::size_t r;
    if (!t_.joinable()) {
      r = ZSTD_compressStream2(s_->cctx.get(), &out, &in, mode);
    } else {
      Shared& s = *s_;
      std::unique_lock<std::mutex> l(s.m);
      s.ib = in;
      s.ob = out;
      s.mode = mode;
      s.request = true;
      s.cv.notify_all();
      while (!s.cv.wait_for(l, std::chrono::milliseconds(50), [&] { return !s.request; })) {
        if (signals::interrupted()) {
          l.unlock();
          signals::check();
        }
      }
      in = s.ib;
      out = s.ob;
      r = s.result;
    }
    check(r, "compress");
    if (mode == ZSTD_e_end && r == 0) finished_ = true;
    return r;
  }

 private:
  struct Shared {
    CCtxPtr cctx;
    std::vector<char> in = std::vector<char>(kChunk);
    std::vector<char> out = std::vector<char>(ZSTD_CStreamOutSize());
    std::mutex m;
    std::condition_variable cv;
    bool request = false, quit = false;
    ZSTD_inBuffer ib{};
    ZSTD_outBuffer ob{};
    ZSTD_EndDirective mode = ZSTD_e_continue;
    std::size_t result = 0;
  };
  static void run(std::shared_ptr<Shared> s) {
    std::unique_lock<std::mutex> l(s->m);
    for (;;) {
      s->cv.wait(l, [&] { return s->request || s->quit; });
      if (s->quit) break;
      l.unlock();
      std::size_t r = ZSTD_compressStream2(s->cctx.get(), &s->ob, &s->ib, s->mode);
      l.lock();
      s->result = r;
      s->request = false;
      s->cv.notify_all();
    }
    l.unlock();
    s->cctx.reset();
  }
  std::shared_ptr<Shared> s_;
  std::thread t_;
  bool finished_ = false;
};

// Feeds every byte of `in` (end = ZSTD_e_end finishes the frame) and hands
// the output to the sink piece by piece.
std::uint64_t pump(Stream& z, const void* data, std::size_t size, ZSTD_EndDirective mode, const Sink& sink) {
  std::uint64_t written = 0;
  ZSTD_inBuffer in{data, size, 0};
  std::vector<char>& out = z.out();
  for (;;) {
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    std::size_t left = z.compress(in, ob, mode);
    if (ob.pos > 0) {
      sink(out.data(), ob.pos);
      written += ob.pos;
    }
    bool done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
    if (done) return written;
  }
}

// Holes shorter than this are mapped from the file with the data around
// them, so a fragmented file does not cost one mapping per extent.
constexpr std::uint64_t kMinMappedHole = 1 << 20;

// A read-only view of bytes [offset, offset + length) of a regular file:
// data extents mapped from the file (shared, so the bytes are the page
// cache's), holes of kMinMappedHole or more as anonymous memory, which reads
// as the kernel's shared zero page (no page cache, not counted in RSS).
class MappedRegion {
 public:
  ~MappedRegion() {
    if (base_ != nullptr) ::munmap(base_, span_);
  }
  // False when the region cannot be mapped (not a regular file, beyond its
  // end, mmap refused); the caller then reads it instead.
  bool map(int fd, std::uint64_t offset, std::uint64_t length) {
    struct stat st;
    if (length == 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) < offset + length)
      return false;
    const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    first_ = offset / page * page;
    const std::uint64_t end = offset + length;
    span_ = static_cast<std::size_t>((end + page - 1) / page * page - first_);
    void* b = ::mmap(nullptr, span_, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (b == MAP_FAILED) return false;
    base_ = static_cast<char*>(b);
    data_ = base_ + (offset - first_);
    auto map_file = [&](std::uint64_t from, std::uint64_t to) {
      from = from / page * page;
      to = std::min<std::uint64_t>((to + page - 1) / page * page, first_ + span_);
      void* at = base_ + (from - first_);
      return ::mmap(at, to - from, PROT_READ, MAP_SHARED | MAP_FIXED, fd, static_cast<off_t>(from)) == at;
    };
    std::uint64_t pos = offset, run_from = 0, run_to = 0;
    bool run = false;
    while (pos < end) {
      off_t d = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
      if (d < 0 && errno == ENXIO) break;  // a hole to the end of the file
      off_t h = d < 0 ? -1 : ::lseek(fd, d, SEEK_HOLE);
      if (h < 0) {  // no SEEK_DATA/SEEK_HOLE: all of the rest from the file
        if (run && !map_file(run_from, run_to)) return false;
        run = true;
        run_from = pos;
        run_to = end;
        break;
      }
      std::uint64_t ds = static_cast<std::uint64_t>(d), de = std::min<std::uint64_t>(static_cast<std::uint64_t>(h), end);
      if (ds >= end) break;
      if (run && ds - run_to < kMinMappedHole) {
        run_to = de;
      } else {
        if (run && !map_file(run_from, run_to)) return false;
        run = true;
        run_from = ds;
        run_to = de;
      }
      pos = de;
    }
    if (run && !map_file(run_from, run_to)) return false;
    ::madvise(base_, span_, MADV_SEQUENTIAL);
    return true;
  }
  const char* data() const { return data_; }
  // Unmaps the pages before `pos` (relative to data()): the page cache keeps
  // the file's bytes, so nothing is lost if they are read again.
  void drop_before(std::uint64_t pos) {
    const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    std::uint64_t upto = (static_cast<std::uint64_t>(data_ - base_) + pos) / page * page;
    if (upto > dropped_) {
      ::madvise(base_ + dropped_, upto - dropped_, MADV_DONTNEED);
      dropped_ = upto;
    }
  }

 private:
  char* base_ = nullptr;
  const char* data_ = nullptr;
  std::size_t span_ = 0;
  std::uint64_t first_ = 0, dropped_ = 0;
};

// One thread, the input mapped and handed to zstd as a stable buffer: its
// window is the mapping itself (the page cache) rather than a private copy of
// 2^window_log bytes, and pages that fell out of the window are unmapped.
// The frame is the same as single-threaded streaming would make.
std::optional<std::uint64_t> compress_mapped(ZSTD_CCtx* c, int fd, std::uint64_t offset, std::uint64_t length,
                                             int window_log, const Sink& sink) {
  std::vector<char> out(ZSTD_CStreamOutSize());
  MappedRegion m;
  if (!m.map(fd, offset, length)) return std::nullopt;
  if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_stableInBuffer, 1))) return std::nullopt;
  const std::uint64_t window = std::uint64_t{1} << window_log;
  std::uint64_t written = 0;
  ZSTD_inBuffer in{m.data(), 0, 0};
  for (;;) {
    signals::check();
    in.size = static_cast<std::size_t>(std::min<std::uint64_t>(length, in.size + kChunk));
    const ZSTD_EndDirective mode = in.size == length ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      ZSTD_outBuffer ob{out.data(), out.size(), 0};
      std::size_t left = ZSTD_compressStream2(c, &ob, &in, mode);
      check(left, "compress");
      if (ob.pos > 0) {
        sink(out.data(), ob.pos);
        written += ob.pos;
      }
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) break;
    }
    if (mode == ZSTD_e_end) return written;
    // A block of margin: zstd may still hold the current block unconsumed.
    if (in.pos > window + ZSTD_BLOCKSIZE_MAX) m.drop_before(in.pos - window - ZSTD_BLOCKSIZE_MAX);
  }
}

}  // namespace

void check_options(const Options& o) {
  if (o.level < 1 || o.level > 22) throw_usage(fmt::format("zstd level {}: expected 1 to 22", o.level));
  if (o.window_log < 10 || o.window_log > 31)
    throw_usage(fmt::format("zstd window log {}: expected 10 to 31", o.window_log));
  if (o.workers < 0) throw_usage(fmt::format("zstd workers {}: expected 0 (all CPUs) or more", o.workers));
}

std::uint64_t compress_region(int fd, const std::string& what, std::uint64_t offset, std::uint64_t length,
                              const Options& opts, const Sink& sink) {
  check_options(opts);
  CCtxPtr cctx(ZSTD_createCCtx());
  if (!cctx) throw Error(ErrorKind::Internal, "zstd: cannot create a compression context");
  ZSTD_CCtx* c = cctx.get();
  set(c, ZSTD_c_compressionLevel, opts.level, "level");
  set(c, ZSTD_c_enableLongDistanceMatching, 1, "long distance matching");
  set(c, ZSTD_c_windowLog, opts.window_log, "window log");
  set(c, ZSTD_c_checksumFlag, 1, "checksum");  // as the zstd CLI
  set(c, ZSTD_c_contentSizeFlag, 1, "content size");
  // One worker compresses in this thread (zstd's nbWorkers = 0), with less
  // memory than one background worker: no round buffer of window + jobs.
  int workers = worker_count(opts.workers);
  if (workers > 1 && ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, workers))) {
    log::warn("this libzstd is built without threads: compressing {} on one thread", what);
    workers = 1;
  }
  check(ZSTD_CCtx_setPledgedSrcSize(c, length), "content size");

  if (workers == 1) {
    if (auto n = compress_mapped(c, fd, offset, length, opts.window_log, sink)) return *n;
  }
  Stream z(std::move(cctx), workers > 1);
  char* in = z.in();
  std::uint64_t written = 0;
  const std::uint64_t end = offset + length;
  std::uint64_t pos = offset;
  bool seekable = true;  // SEEK_DATA/SEEK_HOLE supported
  auto feed_zeros = [&](std::uint64_t n) {
    while (n > 0) {
      signals::check();
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, kChunk));
      written += pump(z, kZeros, k, ZSTD_e_continue, sink);
      n -= k;
    }
  };
  auto feed_data = [&](std::uint64_t from, std::uint64_t to) {
    while (from < to) {
      signals::check();
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(to - from, kChunk));
      read_full_at(fd, in, k, from, what);
      written += pump(z, in, k, ZSTD_e_continue, sink);
      from += k;
    }
  };
  while (pos < end) {
    std::uint64_t data_start = pos, data_end = end;
    if (seekable) {
      off_t d = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
      if (d < 0 && errno == ENXIO) {
        data_start = end;  // a hole to the end of the file
      } else if (d < 0) {
        seekable = false;  // e.g. a filesystem without SEEK_DATA: read everything
      } else {
        data_start = std::min<std::uint64_t>(static_cast<std::uint64_t>(d), end);
        off_t h = ::lseek(fd, d, SEEK_HOLE);
        if (h < 0) throw_errno("seek hole", what);
        data_end = std::min<std::uint64_t>(static_cast<std::uint64_t>(h), end);
      }
    }
    if (data_start > pos) feed_zeros(data_start - pos);
    if (data_start < data_end) feed_data(data_start, data_end);
    pos = std::max(data_start, data_end);
  }
  written += pump(z, nullptr, 0, ZSTD_e_end, sink);
  return written;
}

std::string skippable_frame(const std::array<unsigned char, 16>& payload) {
  std::string f(8 + payload.size(), '\0');
  auto le32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) f[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  le32(0, 0x184D2A50u);
  le32(4, static_cast<std::uint32_t>(payload.size()));
  for (std::size_t i = 0; i < payload.size(); ++i) f[8 + i] = static_cast<char>(payload[i]);
  return f;
}

}  // namespace imgrecipe::zstd
