#include "host/image/vhd_footer.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe::vhd {
namespace {

void be(Footer& f, std::size_t at, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    f[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
}

constexpr std::uint64_t kMaxGeometrySectors = 65535ull * 16 * 255;
constexpr std::int64_t kVhdEpoch = 946684800;  // 2000-01-01 00:00:00 UTC

}  // namespace

Geometry chs_geometry(std::uint64_t total_sectors) {
  // The specification's algorithm, step for step.
  total_sectors = std::min(total_sectors, kMaxGeometrySectors);
  std::uint64_t spt, heads, cyl_times_heads;
  if (total_sectors >= 65535ull * 16 * 63) {
    spt = 255;
    heads = 16;
    cyl_times_heads = total_sectors / spt;
  } else {
    spt = 17;
    cyl_times_heads = total_sectors / spt;
    heads = std::max<std::uint64_t>((cyl_times_heads + 1023) / 1024, 4);
    if (cyl_times_heads >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cyl_times_heads = total_sectors / spt;
    }
    if (cyl_times_heads >= heads * 1024) {
      spt = 63;
      heads = 16;
      cyl_times_heads = total_sectors / spt;
    }
  }
  return {static_cast<std::uint16_t>(cyl_times_heads / heads), static_cast<std::uint8_t>(heads),
          static_cast<std::uint8_t>(spt)};
}

std::uint32_t checksum(const Footer& f) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < f.size(); ++i)
    if (i < 64 || i >= 68) sum += f[i];
  return ~sum;
}

std::uint32_t timestamp_of(std::int64_t unix_seconds) {
  std::int64_t t = unix_seconds - kVhdEpoch;
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(t, 0, 0xffffffffll));
}

Footer fixed_footer(std::uint64_t size, std::uint32_t timestamp, const std::array<unsigned char, 16>& unique_id) {
  if (size == 0 || size % 512 != 0)
    throw_usage(fmt::format("a fixed VHD of {} bytes: the size must be a positive multiple of 512", size));
  Footer f{};
  std::memcpy(f.data(), "conectix", 8);
  be(f, 8, 2, 4);                       // features: the reserved bit, always set
  be(f, 12, 0x00010000, 4);             // file format version 1.0
  be(f, 16, 0xffffffffffffffffull, 8);  // data offset: none for a fixed disk
  be(f, 24, timestamp, 4);
  std::memcpy(f.data() + 28, "qem2", 4);
  be(f, 32, 0x00050003, 4);
  std::memcpy(f.data() + 36, "Wi2k", 4);
  be(f, 40, size, 8);  // original size
  be(f, 48, size, 8);  // current size
  Geometry g = chs_geometry(size / 512);
  be(f, 56, g.cylinders, 2);
  f[58] = g.heads;
  f[59] = g.sectors_per_track;
  be(f, 60, 2, 4);  // disk type: fixed
  std::copy(unique_id.begin(), unique_id.end(), f.begin() + 68);
  be(f, 64, checksum(f), 4);  // saved state (84) and the reserved rest stay zero
  return f;
}

}  // namespace imgrecipe::vhd
