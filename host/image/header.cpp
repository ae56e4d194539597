#include "host/image/header.hpp"

#include <array>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

namespace imgrecipe::image {
namespace {

std::uint64_t be(std::string_view s, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
std::uint64_t le(std::string_view s, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = n; i > 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i - 1]);
  return v;
}

// A file name from a header: printable as it is, anything else escaped, so
// a hostile name cannot forge lines in our messages.
std::string printable(std::string_view raw) {
  std::string out;
  for (unsigned char c : raw) {
    if (c >= 0x20 && c != 0x7f) out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

constexpr unsigned kMinClusterBits = 9, kMaxClusterBits = 21;  // qemu's limits
constexpr std::uint32_t kExtEnd = 0;

// A GUID as stored on disk (mixed endian, as in the VHDX spec).
using Guid = std::array<unsigned char, 16>;
constexpr Guid guid(std::uint32_t a, std::uint16_t b, std::uint16_t c, std::uint64_t d) {
  Guid g{};
  for (int i = 0; i < 4; ++i) g[i] = static_cast<unsigned char>(a >> (8 * i));
  for (int i = 0; i < 2; ++i) g[4 + i] = static_cast<unsigned char>(b >> (8 * i));
  for (int i = 0; i < 2; ++i) g[6 + i] = static_cast<unsigned char>(c >> (8 * i));
  for (int i = 0; i < 8; ++i) g[8 + i] = static_cast<unsigned char>(d >> (8 * (7 - i)));
  return g;
}
bool guid_at(std::string_view s, std::size_t at, const Guid& g) {
  return s.size() >= at + 16 && std::memcmp(s.data() + at, g.data(), 16) == 0;
}

constexpr Guid kMetadataRegion = guid(0x8B7CA206, 0x4790, 0x4B9A, 0xB8FE575F050F886EULL);
constexpr Guid kFileParameters = guid(0xCAA16737, 0xFA36, 0x4D43, 0xB3B633F0AA44E76BULL);
constexpr Guid kParentLocator = guid(0xA8D35F2D, 0xB30B, 0x454D, 0xABF7D3D84834AB0CULL);
constexpr std::uint64_t kRegionTableOffset = 192 * 1024;
constexpr std::uint32_t kHasParent = 1u << 1;

// UTF-16LE to printable text (non-ASCII shown as '?': only for messages).
std::string utf16_text(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    auto c = static_cast<unsigned>(le(s, i, 2));
    out += c < 0x80 ? static_cast<char>(c) : '?';
  }
  return printable(out);
}

// The parent's path from a parent locator: its key/value pairs (UTF-16LE).
std::string locator_parent(std::string_view loc) {
  if (loc.size() < 20) return "";
  std::size_t count = le(loc, 18, 2);
  std::string best;
  for (std::size_t i = 0; i < count && 20 + (i + 1) * 12 <= loc.size(); ++i) {
    std::size_t e = 20 + i * 12;
    std::size_t ko = le(loc, e, 4), vo = le(loc, e + 4, 4), kl = le(loc, e + 8, 2), vl = le(loc, e + 10, 2);
    if (ko + kl > loc.size() || vo + vl > loc.size()) continue;
    std::string key = utf16_text(loc.substr(ko, kl));
    std::string value = utf16_text(loc.substr(vo, vl));
    if (key == "absolute_win32_path" || key == "volume_path" || (key == "relative_path" && best.empty()))
      best = value;
  }
  return best;
}

}  // namespace

Qcow2Header parse_qcow2_header(const ReadAt& read, std::uint64_t file_size) {
  std::string h = read(0, 104);
  if (h.size() < 72)
    throw HeaderError(fmt::format("truncated qcow2 header: the file has {} bytes, the header needs at least 72",
                                  file_size));
  Qcow2Header out;
  out.version = static_cast<std::uint32_t>(be(h, 4, 4));
  if (out.version == 1) throw HeaderError("qcow version 1 images are not supported (convert it with qemu-img first)");
  if (out.version != 2 && out.version != 3)
    throw HeaderError(fmt::format("unsupported qcow2 version {}", out.version));
  std::uint64_t backing_offset = be(h, 8, 8);
  std::uint32_t backing_size = static_cast<std::uint32_t>(be(h, 16, 4));
  out.cluster_bits = static_cast<std::uint32_t>(be(h, 20, 4));
  out.size = be(h, 24, 8);
  out.crypt_method = static_cast<std::uint32_t>(be(h, 32, 4));
  if (out.cluster_bits < kMinClusterBits || out.cluster_bits > kMaxClusterBits)
    throw HeaderError(fmt::format("corrupt qcow2 header: cluster size 2^{} is out of range", out.cluster_bits));
  std::uint64_t cluster = std::uint64_t{1} << out.cluster_bits;
  std::uint64_t header_length = 72;
  if (out.version == 3) {
    if (h.size() < 104)
      throw HeaderError(fmt::format("truncated qcow2 header: the file has {} bytes, a version 3 header needs 104",
                                    file_size));
    out.incompatible_features = be(h, 72, 8);
    header_length = be(h, 100, 4);
    if (header_length < 104 || header_length > cluster)
      throw HeaderError(fmt::format("corrupt qcow2 header: header length {}", header_length));
  }
  out.external_data = (out.incompatible_features & kQcow2ExternalData) != 0;
  if (backing_offset > cluster)
    throw HeaderError(fmt::format("corrupt qcow2 header: backing file name at offset {}, beyond the first cluster",
                                  backing_offset));

  // Everything qemu reads from here on lies in the first cluster.
  std::string first = read(0, static_cast<std::size_t>(cluster));
  if (backing_offset != 0) {
    if (backing_size == 0 || backing_offset + backing_size > first.size()) {
      // qemu would refuse or read past the end; either way it is a reference.
      out.backing_file = fmt::format("<a name of {} bytes at offset {}>", backing_size, backing_offset);
    } else {
      out.backing_file = printable(std::string_view(first).substr(backing_offset, backing_size));
    }
  }
  std::uint64_t ext_end = backing_offset != 0 ? backing_offset : cluster;
  for (std::uint64_t at = header_length; at + 8 <= ext_end && at + 8 <= first.size();) {
    auto type = static_cast<std::uint32_t>(be(first, at, 4));
    std::uint64_t len = be(first, at + 4, 4);
    if (type == kExtEnd) break;
    at += 8;
    if (len > ext_end - at) throw HeaderError("corrupt qcow2 header: a header extension runs past its area");
    if (type == kQcow2ExtDataFile) {
      std::string_view all(first);
      std::string_view name = at < all.size() ? all.substr(at, len) : std::string_view{};
      out.data_file = name.empty() ? "<empty name>" : printable(name);
    }
    at += (len + 7) & ~std::uint64_t{7};
  }
  return out;
}

VhdxInfo parse_vhdx_metadata(const ReadAt& read) {
  VhdxInfo out;
  std::string rt = read(kRegionTableOffset, 64 * 1024);
  if (rt.size() < 16 || rt.compare(0, 4, "regi") != 0) return out;
  std::size_t count = le(rt, 8, 4);
  std::uint64_t meta_offset = 0, meta_length = 0;
  for (std::size_t i = 0; i < count && 16 + (i + 1) * 32 <= rt.size(); ++i) {
    std::size_t e = 16 + i * 32;
    if (guid_at(rt, e, kMetadataRegion)) {
      meta_offset = le(rt, e + 16, 8);
      meta_length = le(rt, e + 24, 4);
    }
  }
  if (meta_offset == 0 || meta_length < 32) return out;
  // The metadata table is the region's first 64 KiB.
  std::string table = read(meta_offset, 64 * 1024);
  if (table.size() < 32 || table.compare(0, 8, "metadata") != 0) return out;
  std::size_t entries = le(table, 10, 2);
  for (std::size_t i = 0; i < entries && 32 + (i + 1) * 32 <= table.size(); ++i) {
    std::size_t e = 32 + i * 32;
    std::uint64_t item_offset = le(table, e + 16, 4), item_length = le(table, e + 20, 4);
    if (guid_at(table, e, kFileParameters)) {
      std::string fp = read(meta_offset + item_offset, 8);
      if (fp.size() == 8 && (le(fp, 4, 4) & kHasParent) != 0) out.has_parent = true;
    } else if (guid_at(table, e, kParentLocator)) {
      out.has_parent = true;  // only differencing disks carry one
      out.parent = locator_parent(read(meta_offset + item_offset, std::min<std::uint64_t>(item_length, 64 * 1024)));
    }
  }
  return out;
}

}  // namespace imgrecipe::image
