// Reads and writes at a file offset (pread/pwrite) that neither stop at a
// short transfer nor fail on EINTR. Errors name the file: "<op> <path>: ...".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace imgrecipe {

// Reads up to `n` bytes at `offset`; fewer only at the end of the file.
// Returns the number read.
std::size_t read_some_at(int fd, void* buf, std::size_t n, std::uint64_t offset, const std::string& path,
                         const char* op = "read");

// Reads exactly `n` bytes at `offset`; the end of the file before that is a
// System error "<op> <path>: unexpected end of file at <offset>".
void read_full_at(int fd, void* buf, std::size_t n, std::uint64_t offset, const std::string& path,
                  const char* op = "read");

// Writes all `n` bytes at `offset`.
void write_full_at(int fd, const void* buf, std::size_t n, std::uint64_t offset, const std::string& path,
                   const char* op = "write");

}  // namespace imgrecipe
