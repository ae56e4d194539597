// Disk image formats: detection from content, conversion of any supported
// input into the raw working copy, and atomic writing of the final output.
// All conversions go through qemu-img (no nbd here, see machine-facts.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imgrecipe::image {

enum class Format { Raw, Qcow2, Vhd /*dynamic*/, VhdFixed, Vhdx };

inline constexpr std::uint64_t kMiB = 1024 * 1024;

// VHD sizes must be whole MiB (Azure requires it; ALIC pads the same way).
constexpr std::uint64_t round_up_mib(std::uint64_t bytes) { return (bytes + kMiB - 1) / kMiB * kMiB; }

// From the content, never the extension: qcow2 and vhdx magics at offset 0,
// a VHD footer ("conectix", valid checksum) in the last 512 bytes; anything
// else is raw. A differencing VHD, a corrupt VHD footer and VMDK/VDI files
// are rejected with a clear error.
Format detect_format(const std::string& path);

// "raw", "qcow2", "vhd", "vhd-fixed", "vhdx".
std::string_view name(Format format);
// Accepts the names above; throws ErrorKind::Usage listing them otherwise.
Format parse_format(std::string_view name);

// Converts `input` (opened read-only, never written) into a fresh sparse raw
// file `raw_out` whose size is the real disk size (for VHDs: the footer's
// current size, never including the footer). `raw_out` is removed if this
// fails or is interrupted.
void convert_to_raw(const std::string& input, Format format, const std::string& raw_out);

// For a raw output: converts `input` (never written) into a new temporary
// file beside `out` (`.<name>.tmp-XXXXXX`, mode 0600 until committed) and
// returns its path, to be used as the raw working copy and renamed into place
// by commit_output(): one full copy instead of two. Removed at teardown
// (error, signal, never committed), with any output directory made for it.
std::string output_working_copy(const std::string& input, Format format, const std::string& out);
// Gives `tmp` (from output_working_copy for this `out`) the output's mode,
// fsyncs it, renames it to `out` and fsyncs the directory.
void commit_output(const std::string& tmp, const std::string& out);

// Writes `raw` as `format` to `out` atomically: a temp file in out's directory,
// fsync'ed and renamed into place only on success; on error or signal no file
// is left behind. For vhd/vhd-fixed a raw size that is not whole MiB is first
// rounded up by growing `raw` itself (it is the working copy).
// `discard_dir`, if not empty, is the image's working directory (holding
// `raw`), no longer needed: it is removed (never across a mount) while the
// output is being fsynced, since dropping the working copy's pages costs about
// as much CPU as the fsync waits for the disk. Kept when the build directory
// is kept.
void write_output(const std::string& raw, const std::string& out, Format format,
                  const std::string& discard_dir = {});

// Converts `input` (detected as `in_format`; opened read-only as an untrusted
// input, never written) into `out` as `format` in one qemu-img pass, with
// no working copy: a temporary file beside `out`, fsynced and renamed. A VHD
// whose disk is not whole MiB goes through a raw copy in `scratch_dir`
// instead (removed afterwards), grown as write_output grows it.
void convert_image(const std::string& input, Format in_format, const std::string& out, Format format,
                   const std::string& scratch_dir);

struct ImageInfo {
  Format format;
  std::uint64_t virtual_size;  // the disk size as a guest sees it
  std::uint64_t allocated;     // bytes allocated on the host
};
ImageInfo inspect(const std::string& path);

}  // namespace imgrecipe::image
