// Streaming zstd compression in process (libzstd), as ALIC's COSI output runs
// `zstd -<level> --long=<window> -T0`: long-distance matching over a 2^window
// byte window, multithreaded, content size and checksum in the frame. Input
// is read in fixed-size pieces and holes of a sparse file (SEEK_DATA /
// SEEK_HOLE) are fed as zeros without being read, so memory depends on the
// window and worker count, never on the input's size. Multithreaded zstd
// with long-distance matching keeps a private copy of the whole window
// (2^window_log bytes) plus per-worker tables; with one worker, a regular
// file is instead mapped and compressed in the calling thread, its window
// read from the page cache (no private copy; docs/cosi.md, "Speed and memory").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace imgrecipe::zstd {

struct Options {
  int level = 9;        // 1..22 (ALIC's range; >= 20 is zstd's --ultra)
  int window_log = 27;  // --long=27
  int workers = 0;      // threads; 0 = one per online CPU (zstd -T0); 1 = this thread, input mapped
};

// Receives compressed bytes in order.
using Sink = std::function<void(const void* data, std::size_t size)>;

// Compresses bytes [offset, offset + length) of `fd` (a regular file or a
// block device; `what` names it in errors) as one zstd frame into `sink`.
// Returns the number of compressed bytes. Polls for SIGINT/SIGTERM.
std::uint64_t compress_region(int fd, const std::string& what, std::uint64_t offset, std::uint64_t length,
                              const Options& opts, const Sink& sink);

// A zstd skippable frame (magic 0x184D2A50) carrying `payload`: 8 header
// bytes (magic and payload size, little-endian) and the payload. Decoders
// skip it; ALIC puts the 16-byte image UUID first in every COSI image.
std::string skippable_frame(const std::array<unsigned char, 16>& payload);

// Throws a usage error unless 1 <= level <= 22 and 10 <= window_log <= 31.
void check_options(const Options& opts);

}  // namespace imgrecipe::zstd
