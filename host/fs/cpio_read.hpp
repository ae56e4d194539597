// Reading a kernel initramfs (newc cpio) back into a directory tree: the
// inverse of cpio_image::create, used to rebuild the root of a LiveOS ISO
// whose initramfs is the whole OS (full-os). The archive is untrusted:
// headers are checked (errors name the byte offset), names with ".." are
// refused and every entry is created through the image root (openat2
// RESOLVE_IN_ROOT), so neither absolute names nor symlinked parents reach
// outside it. Streamed: memory stays flat whatever the archive's size.
#pragma once

#include <cstdint>
#include <string>

namespace imgrecipe::cpio_read {

struct Stats {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;  // file contents (uncompressed)
};

// Reads `archive`, a concatenation (the kernel's initramfs rules) of
// uncompressed newc archives and zstd streams holding newc archives, with
// zero padding between them (an early microcode cpio followed by the
// compressed main one). Other compressions (gzip, xz, lz4, ...) are refused.
// Checks every header and name without writing anything.
Stats scan(const std::string& archive);

// Creates every entry of `archive` under `root_dir` (a host directory used
// as the root): modes, owners, times, symlinks, hard links, device nodes and
// fifos kept; an existing non-directory at an entry's path is replaced (as
// the kernel does). "." (the root itself) keeps its own attributes. File
// contents that are zero blocks stay holes.
Stats extract(const std::string& archive, const std::string& root_dir);

}  // namespace imgrecipe::cpio_read
