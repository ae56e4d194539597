// Free space in the build directory. A full build directory makes the loop
// devices behind the image's filesystems fail their writes; the kernel then
// aborts the journal while the commands in the image carry on. Builds check
// the space up front where the need is known, and any failure while the
// build directory is (nearly) full is reported as what it is.
#pragma once

#include <cstdint>
#include <string>

#include "host/system/error.hpp"

namespace imgrecipe::space {

// Below this much free space a failure is attributed to the full build directory.
inline constexpr std::uint64_t kLowWater = 16ull * 1024 * 1024;

// The build directory of this run, named in messages (set by the CLI).
void set_build_dir(const std::string& dir);
const std::string& build_dir();

// Bytes root may still write on the filesystem holding `path`.
std::uint64_t free_bytes(const std::string& path);

// "no space left in the build directory DIR (N MiB free): WHAT" if `path` is
// inside the build directory, else "... in the directory DIR ..." naming
// `path`'s directory.
Error no_space_error(const std::string& path, const std::string& what);

// Before making the working copy `raw_out` of `input`: the input's allocated
// size must be free. The copy may take less (qemu-img leaves zero blocks out),
// but the customization writes on top of it: less is plainly too little.
void require_for_copy(const std::string& input, const std::string& raw_out);

// `e` with the no-space message for `path` in front when the filesystem
// holding `path` has less than kLowWater free; else (and for the kinds below)
// `e` unchanged.
Error attribute(const Error& e, const std::string& path);

// `e` unchanged, or with the no-space message in front of it when the build
// directory is nearly full (below kLowWater) or `e` is a write into it that
// failed for lack of space (ENOSPC, or a command on a file in it saying so).
// Config, usage, interruption and unsupported-feature errors stay as they are.
Error explain(const Error& e);

}  // namespace imgrecipe::space
