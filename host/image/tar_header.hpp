// Tar headers as Go's archive/tar writes them for ALIC's COSI files: ustar
// blocks, owner 0:0, no user or group names, mtime 0; a PAX extended header
// ('x', records sorted by key) before an entry whose name does not fit the
// 100-byte name field or whose size does not fit 11 octal digits. Written
// here instead of through libarchive: ~100 lines give byte-for-byte control
// over what ALIC emits, and the writer streams entry data from its own files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imgrecipe::tar {

inline constexpr std::size_t kBlock = 512;

// One 512-byte ustar header block of a regular file (typeflag '0').
std::string ustar_block(std::string_view name, std::uint64_t size, unsigned mode, char typeflag = '0');

// Every header block of a regular-file entry: the PAX extended header when
// needed, then the ustar block.
std::string file_header(std::string_view name, std::uint64_t size, unsigned mode = 0400);

// Zero bytes that follow `size` bytes of content up to the next block.
inline std::size_t padding(std::uint64_t size) { return (kBlock - size % kBlock) % kBlock; }

// The end of an archive: two zero blocks (no padding to a 10 KiB record, as Go).
inline std::string end_of_archive() { return std::string(2 * kBlock, '\0'); }

}  // namespace imgrecipe::tar
