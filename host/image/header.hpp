// Container headers of input images, parsed by us before qemu-img sees the
// file: qcow2 and VHDX can name other files (backing files, external data
// files, parent disks) that qemu would open and copy into the working copy.
// Input images are untrusted, so every such reference is found here and
// refused (see format.cpp). Pure parsing over a read callback: no I/O of its
// own, unit-tested with hand-made headers.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace imgrecipe::image {

// Reads up to `length` bytes at `offset`; fewer (or none) at the end of the file.
using ReadAt = std::function<std::string(std::uint64_t offset, std::size_t length)>;

// A header that is not what its magic promises; the message says what is
// wrong in words ("truncated qcow2 header: ...").
struct HeaderError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// qcow2 incompatible feature bit 2 (spec: "External data file").
inline constexpr std::uint64_t kQcow2ExternalData = 1u << 2;
// Header extension type of the external data file name ("DATA").
inline constexpr std::uint32_t kQcow2ExtDataFile = 0x44415441;

struct Qcow2Header {
  std::uint32_t version = 0;
  std::uint32_t cluster_bits = 0;
  std::uint64_t size = 0;                 // virtual disk size
  std::uint32_t crypt_method = 0;         // 0 = not encrypted
  std::uint64_t incompatible_features = 0;
  std::string backing_file;               // empty: none
  bool external_data = false;             // incompatible feature bit 2
  std::string data_file;                  // the data-file extension's name, empty: none
};

// Parses the header at offset 0 (magic "QFI\xfb" already seen) and its
// extensions, as qemu does: extensions from the header length up to the
// backing file name or the end of the first cluster.
Qcow2Header parse_qcow2_header(const ReadAt& read, std::uint64_t file_size);

struct VhdxInfo {
  bool has_parent = false;    // File Parameters "HasParent": a differencing disk
  std::string parent;         // from the parent locator, if any ("" unknown)
};

// Reads the region table (192 KiB), the metadata region's File Parameters
// and parent locator. A VHDX without a readable metadata region yields {}
// (qemu then fails to open it on its own).
VhdxInfo parse_vhdx_metadata(const ReadAt& read);

}  // namespace imgrecipe::image
