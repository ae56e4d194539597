#include "host/inspect/source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <zstd.h>

#include "host/image/format.hpp"
#include "host/media/iso_read.hpp"
#include "host/system/error.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/signals.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe::inspect {
namespace {

std::string read_at(int fd, std::uint64_t offset, std::size_t n, const std::string& path) {
  std::string buf(n, '\0');
  buf.resize(read_some_at(fd, buf.data(), n, offset, path));
  return buf;
}

struct TarMember {
  std::string name;
  std::uint64_t offset = 0, size = 0;  // of the data
};

// The members of an uncompressed tar (ustar, with PAX `path` records).
std::vector<TarMember> tar_members(int fd, const std::string& path) {
  std::vector<TarMember> out;
  std::uint64_t pos = 0;
  std::string pax_path, pax_size;
  while (true) {
    std::string h = read_at(fd, pos, 512, path);
    if (h.size() < 512 || h[0] == '\0') break;
    std::uint64_t size = std::strtoull(std::string(h.data() + 124, 12).c_str(), nullptr, 8);
    // Members of 8 GiB and more carry their size in the PAX record.
    if (!pax_size.empty() && h[156] != 'x') size = std::strtoull(pax_size.c_str(), nullptr, 10);
    std::string name(h.data(), strnlen(h.data(), 100));
    std::string prefix(h.data() + 345, strnlen(h.data() + 345, 155));
    if (!prefix.empty()) name = prefix + "/" + name;
    char type = h[156];
    if (type == 'x') {
      std::string pax = read_at(fd, pos + 512, size, path);
      auto record = [&](const std::string& key) {
        auto at = pax.find(" " + key + "=");
        return at == std::string::npos ? std::string()
                                        : pax.substr(at + key.size() + 2, pax.find('\n', at) - at - key.size() - 2);
      };
      pax_path = record("path");
      pax_size = record("size");
    } else {
      if (!pax_path.empty()) name = pax_path;
      pax_path.clear();
      pax_size.clear();
      out.push_back({name, pos + 512, size});
    }
    pos += 512 + (size + 511) / 512 * 512;
  }
  return out;
}

// Decompresses a zstd member (skippable frames skipped) to `out` at
// `offset`, leaving all-zero blocks as holes.
void unzstd_into(int in, const TarMember& m, const std::string& input, int out, std::uint64_t offset,
                 const std::string& out_path) {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 31);
  std::vector<char> ibuf(ZSTD_DStreamInSize()), obuf(1 << 20);
  std::uint64_t done = 0;
  std::uint64_t written = offset;
  while (done < m.size) {
    std::size_t n = read_some_at(in, ibuf.data(), std::min<std::uint64_t>(ibuf.size(), m.size - done), m.offset + done,
                                 input);
    if (n == 0) break;
    done += n;
    signals::check();  // SIGINT/SIGTERM: stop; the caller removes the scratch directory
    ZSTD_inBuffer ib{ibuf.data(), n, 0};
    while (ib.pos < ib.size) {
      ZSTD_outBuffer ob{obuf.data(), obuf.size(), 0};
      std::size_t rc = ZSTD_decompressStream(dctx, &ob, &ib);
      if (ZSTD_isError(rc)) {
        ZSTD_freeDCtx(dctx);
        throw Error(ErrorKind::Unsupported,
                    fmt::format("{}: {} is not valid zstd: {}", input, m.name, ZSTD_getErrorName(rc)));
      }
      for (std::size_t b = 0; b < ob.pos; b += 4096) {
        std::size_t len = std::min<std::size_t>(4096, ob.pos - b);
        const char* p = obuf.data() + b;
        if (!std::all_of(p, p + len, [](char c) { return c == 0; })) write_full_at(out, p, len, written + b, out_path);
      }
      written += ob.pos;
    }
  }
  ZSTD_freeDCtx(dctx);
}

std::uint64_t le64(const std::string& s, std::size_t o) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(s[o + i]);
  return v;
}
std::uint32_t le32(const std::string& s, std::size_t o) { return static_cast<std::uint32_t>(le64(s + std::string(4, '\0'), o) & 0xffffffff); }

// A sparse disk image from a COSI file: the primary GPT region at 0, each
// partition image at its entry's first LBA.
void cosi_to_disk(const std::string& input, int fd, const std::vector<TarMember>& members, const std::string& disk) {
  const TarMember* gpt = nullptr;
  std::vector<std::pair<int, const TarMember*>> parts;
  for (const auto& m : members) {
    if (m.name.size() > 13 && m.name.compare(m.name.size() - 13, 13, "_gpt.raw.zst") == 0) gpt = &m;
    auto us = m.name.rfind('_');
    const std::string suffix = ".raw.zst";
    if (us != std::string::npos && m.name.size() > suffix.size() &&
        m.name.compare(m.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string num = m.name.substr(us + 1, m.name.size() - suffix.size() - us - 1);
      if (!num.empty() && std::all_of(num.begin(), num.end(), ::isdigit)) parts.emplace_back(std::stoi(num), &m);
    }
  }
  if (!gpt) gpt = [&]() -> const TarMember* {
      for (const auto& m : members)
        if (m.name.find("_gpt.raw.zst") != std::string::npos) return &m;
      return nullptr;
    }();
  if (!gpt) throw Error(ErrorKind::Unsupported, input + ": COSI file without a primary GPT image (*_gpt.raw.zst)");
  UniqueFd out(::open(disk.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.get() < 0) throw_system("create", disk, errno);
  unzstd_into(fd, *gpt, input, out.get(), 0, disk);
  std::string header = read_at(out.get(), 512, 512, disk);
  if (header.compare(0, 8, "EFI PART") != 0) throw Error(ErrorKind::Unsupported, input + ": the COSI GPT image has no GPT header");
  std::uint64_t backup_lba = le64(header, 32), entries_lba = le64(header, 72);
  std::uint32_t entry_size = le32(header, 84);
  if (::ftruncate(out.get(), static_cast<off_t>((backup_lba + 1) * 512)) != 0) throw_system("truncate", disk, errno);
  for (const auto& [number, m] : parts) {
    std::string entry = read_at(out.get(), entries_lba * 512 + std::uint64_t(number - 1) * entry_size, entry_size, disk);
    if (number < 1 || entry_size < 128 || entry.size() < 40)
      throw Error(ErrorKind::Unsupported, fmt::format("{}: {} has no GPT entry for partition {}", input, m->name, number));
    std::uint64_t first = le64(entry, 32);
    unzstd_into(fd, *m, input, out.get(), first * 512, disk);
  }
}

}  // namespace

Source open_source(const std::string& input, const std::string& scratch) {
  UniqueFd fd = open_or_throw(input, O_RDONLY);
  Source s;
  std::string head = read_at(fd.get(), 0, 512, input);
  std::string pvd = read_at(fd.get(), 32769, 5, input);
  if (head.size() >= 262 && head.compare(257, 5, "ustar") == 0) {
    auto members = tar_members(fd.get(), input);
    bool marker = false;
    for (const auto& m : members) marker = marker || m.name == "cosi-marker";
    if (!marker) throw Error(ErrorKind::Unsupported, input + ": a tar file that is not a COSI image (no cosi-marker)");
    s.format = "cosi";
    s.disk = scratch + "/disk.raw";
    cosi_to_disk(input, fd.get(), members, s.disk);
    return s;
  }
  if (head.compare(0, 4, "hsqs") == 0) {
    s.format = "squashfs";
    s.squashfs = input;
    return s;
  }
  if (pvd == "CD001") {
    s.format = "iso";
    iso::require_xorriso();
    s.iso_volume_id = iso::volume_id(input);
    std::string rootfs;
    for (const auto& e : iso::list(input)) {
      if (e.type != '-') continue;
      if (e.path == "/LiveOS/rootfs.img" || e.path == "/LiveOS/squashfs.img") rootfs = e.path;
      if (e.path == "/boot/grub/grub.cfg" || e.path == "/boot/grub2/grub.cfg") s.iso_grub_cfg = iso::read_file(input, e.path, scratch);
    }
    if (rootfs.empty()) throw Error(ErrorKind::Unsupported, input + ": an ISO without a LiveOS squashfs (/LiveOS/rootfs.img)");
    s.squashfs = scratch + "/rootfs.img";
    iso::extract(input, rootfs, s.squashfs);
    return s;
  }
  image::Format f = image::detect_format(input);
  s.format = std::string(image::name(f));
  if (f == image::Format::Raw) {
    s.disk = input;
  } else {
    s.disk = scratch + "/disk.raw";
    image::convert_to_raw(input, f, s.disk);
  }
  return s;
}

}  // namespace imgrecipe::inspect
