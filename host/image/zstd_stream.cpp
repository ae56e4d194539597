#include "host/image/zstd_stream.hpp"

#include <unistd.h>

#include <cerrno>
#include <memory>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <zstd.h>

#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/signals.hpp"

namespace imgrecipe::zstd {
namespace {

constexpr std::size_t kChunk = 1 << 20;

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

void check(std::size_t rc, const char* what) {
  if (ZSTD_isError(rc)) throw Error(ErrorKind::Internal, fmt::format("zstd: {}: {}", what, ZSTD_getErrorName(rc)));
}

void set(ZSTD_CCtx* c, ZSTD_cParameter p, int v, const char* what) { check(ZSTD_CCtx_setParameter(c, p, v), what); }

int worker_count(int requested) {
  if (requested > 0) return requested;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Feeds every byte of `in` (end = ZSTD_e_end finishes the frame) and hands
// the output to the sink piece by piece.
std::uint64_t pump(ZSTD_CCtx* c, const void* data, std::size_t size, ZSTD_EndDirective mode,
                   std::vector<char>& out, const Sink& sink) {
  std::uint64_t written = 0;
  ZSTD_inBuffer in{data, size, 0};
  for (;;) {
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    std::size_t left = ZSTD_compressStream2(c, &ob, &in, mode);
    check(left, "compress");
    if (ob.pos > 0) {
      sink(out.data(), ob.pos);
      written += ob.pos;
    }
    bool done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
    if (done) return written;
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
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  if (!cctx) throw Error(ErrorKind::Internal, "zstd: cannot create a compression context");
  ZSTD_CCtx* c = cctx.get();
  set(c, ZSTD_c_compressionLevel, opts.level, "level");
  set(c, ZSTD_c_enableLongDistanceMatching, 1, "long distance matching");
  set(c, ZSTD_c_windowLog, opts.window_log, "window log");
  set(c, ZSTD_c_checksumFlag, 1, "checksum");  // as the zstd CLI
  set(c, ZSTD_c_contentSizeFlag, 1, "content size");
  int workers = worker_count(opts.workers);
  if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, workers))) {
    log::warn("this libzstd is built without threads: compressing {} on one thread", what);
  }
  check(ZSTD_CCtx_setPledgedSrcSize(c, length), "content size");

  std::vector<char> in(kChunk), out(ZSTD_CStreamOutSize());
  static const std::vector<char> zeros(kChunk, 0);
  std::uint64_t written = 0;
  const std::uint64_t end = offset + length;
  std::uint64_t pos = offset;
  bool seekable = true;  // SEEK_DATA/SEEK_HOLE supported
  auto feed_zeros = [&](std::uint64_t n) {
    while (n > 0) {
      signals::check();
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, kChunk));
      written += pump(c, zeros.data(), k, ZSTD_e_continue, out, sink);
      n -= k;
    }
  };
  auto feed_data = [&](std::uint64_t from, std::uint64_t to) {
    while (from < to) {
      signals::check();
      std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(to - from, kChunk));
      read_full_at(fd, in.data(), k, from, what);
      written += pump(c, in.data(), k, ZSTD_e_continue, out, sink);
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
  written += pump(c, nullptr, 0, ZSTD_e_end, out, sink);
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
