// The 512-byte footer of a fixed VHD (Microsoft's "Virtual Hard Disk Image
// Format Specification", "Hard Disk Footer Format"). A fixed VHD is the raw
// disk followed by this footer, so appending it to a file whose size is a
// whole number of sectors makes the file a fixed VHD of that size in place
// (baremetal-image output: a COSI tar padded to 1 MiB plus this footer).
#pragma once

#include <array>
#include <cstdint>

namespace imgrecipe::vhd {

inline constexpr std::size_t kFooterSize = 512;
using Footer = std::array<unsigned char, kFooterSize>;

struct Geometry {
  std::uint16_t cylinders = 0;
  std::uint8_t heads = 0;
  std::uint8_t sectors_per_track = 0;
};

// CHS geometry of a disk of `total_sectors` 512-byte sectors, as the
// specification's appendix computes it (capped at 65535 x 16 x 255).
Geometry chs_geometry(std::uint64_t total_sectors);

// Ones' complement of the sum of every byte but the checksum field (64..67).
std::uint32_t checksum(const Footer& footer);

// A fixed-disk footer for a disk of `size` bytes (a multiple of 512): cookie
// "conectix", features 2, version 1.0, data offset all ones, `timestamp`
// (seconds since 2000-01-01 00:00:00 UTC), creator "qem2" version 5.3 on
// "Wi2k" as qemu-img's force_size=on writes it (qemu, seeing "qem2", takes
// the size from the footer instead of the geometry, which rarely multiplies
// out to the size exactly), original and current size, the geometry above,
// disk type 2, `unique_id`, the checksum. Throws a usage error for a size
// that is not whole sectors.
Footer fixed_footer(std::uint64_t size, std::uint32_t timestamp, const std::array<unsigned char, 16>& unique_id);

// Seconds since 2000-01-01 00:00:00 UTC of a Unix time (0 before it,
// saturating after 2136).
std::uint32_t timestamp_of(std::int64_t unix_seconds);

}  // namespace imgrecipe::vhd
