#include "host/boot/uki.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/process.hpp"
#include "host/system/random.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe::uki {
namespace {

std::uint16_t u16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t u32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t u64(const unsigned char* p) { return u32(p) | (static_cast<std::uint64_t>(u32(p + 4)) << 32); }

[[noreturn]] void not_pe(const std::string& path, const std::string& why) {
  throw_usage(fmt::format("{}: not a PE32+ EFI image ({})", path, why));
}

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

std::uint64_t file_size(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw_errno("stat", path);
  if (!S_ISREG(st.st_mode)) throw_usage(fmt::format("UKI section source {} is not a regular file", path));
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace

PeImage read_pe(const std::string& path) {
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  unsigned char dos[64];
  if (read_some_at(fd.get(), dos, sizeof dos, 0, path) != sizeof dos || dos[0] != 'M' || dos[1] != 'Z') {
    not_pe(path, "no MZ header");
  }
  const std::uint32_t pe_off = u32(dos + 0x3c);
  unsigned char coff[24];
  if (read_some_at(fd.get(), coff, sizeof coff, pe_off, path) != sizeof coff || std::memcmp(coff, "PE\0\0", 4) != 0) {
    not_pe(path, "no PE signature");
  }
  PeImage pe;
  pe.machine = u16(coff + 4);
  const std::uint16_t nsections = u16(coff + 6);
  const std::uint16_t opt_size = u16(coff + 20);
  if (opt_size < 112) not_pe(path, "optional header too small");
  std::string opt(opt_size, '\0');
  read_full_at(fd.get(), opt.data(), opt.size(), pe_off + 24, path);
  const auto* o = reinterpret_cast<const unsigned char*>(opt.data());
  if (u16(o) != 0x20b) not_pe(path, fmt::format("optional header magic {:#x}, expected 0x20b", u16(o)));
  pe.image_base = u64(o + 24);
  pe.section_alignment = u32(o + 32);
  pe.file_alignment = u32(o + 36);
  std::string table(static_cast<std::size_t>(nsections) * 40, '\0');
  read_full_at(fd.get(), table.data(), table.size(), pe_off + 24 + opt_size, path);
  for (std::uint16_t i = 0; i < nsections; ++i) {
    const auto* s = reinterpret_cast<const unsigned char*>(table.data()) + i * 40;
    PeSection sec;
    sec.name.assign(reinterpret_cast<const char*>(s), strnlen(reinterpret_cast<const char*>(s), 8));
    sec.virtual_size = u32(s + 8);
    sec.rva = u32(s + 12);
    sec.raw_size = u32(s + 16);
    sec.raw_offset = u32(s + 20);
    pe.sections.push_back(sec);
  }
  return pe;
}

std::string read_section(const std::string& path, std::string_view name) {
  PeImage pe = read_pe(path);
  for (const PeSection& s : pe.sections) {
    if (s.name != name) continue;
    // VirtualSize 0 (some linkers): the raw size is the content.
    std::uint32_t n = s.virtual_size ? std::min(s.virtual_size, s.raw_size) : s.raw_size;
    std::string out(n, '\0');
    UniqueFd fd = open_or_throw(path, O_RDONLY);
    read_full_at(fd.get(), out.data(), out.size(), s.raw_offset, path);
    return out;
  }
  throw_usage(fmt::format("{}: no {} section", path, name));
}

std::vector<Placement> place_sections(const PeImage& stub, const std::vector<std::pair<std::string, std::uint64_t>>& sizes,
                                      std::uint32_t alignment) {
  if (alignment == 0) alignment = std::max<std::uint32_t>(stub.section_alignment, 4096);
  std::uint64_t end = 0;
  for (const PeSection& s : stub.sections) {
    end = std::max<std::uint64_t>(end, std::uint64_t{s.rva} + std::max(s.virtual_size, s.raw_size));
  }
  std::vector<Placement> out;
  for (const auto& [name, size] : sizes) {
    for (const PeSection& s : stub.sections) {
      if (s.name == name) throw_usage(fmt::format("the EFI stub already has a {} section", name));
    }
    std::uint64_t rva = align_up(end, alignment);
    out.push_back({name, stub.image_base + rva});
    end = rva + std::max<std::uint64_t>(size, 1);
  }
  return out;
}

std::vector<std::string> objcopy_argv(const std::string& stub, const std::vector<Section>& sections,
                                      const std::vector<Placement>& placements, const std::string& output) {
  std::vector<std::string> argv{"objcopy"};
  for (std::size_t i = 0; i < sections.size(); ++i) {
    argv.push_back("--add-section");
    argv.push_back(sections[i].name + "=" + sections[i].file);
    argv.push_back("--change-section-vma");
    argv.push_back(fmt::format("{}={:#x}", sections[i].name, placements[i].vma));
  }
  argv.push_back(stub);
  argv.push_back(output);
  return argv;
}

void assemble(const std::string& stub, const std::vector<Section>& sections, const std::string& output) {
  PeImage pe = read_pe(stub);
  std::vector<std::pair<std::string, std::uint64_t>> sizes;
  for (const Section& s : sections) {
    if (s.name.empty() || s.name[0] != '.' || s.name.size() > 8) {
      throw_usage(fmt::format("UKI section name '{}': expected '.' and up to 7 characters", s.name));
    }
    sizes.emplace_back(s.name, file_size(s.file));
  }
  std::vector<Placement> placements = place_sections(pe, sizes);
  const std::string tmp = output + ".tmp-" + random_uuid().substr(0, 8);
  try {
    run_checked(objcopy_argv(stub, sections, placements, tmp));
    // objcopy silently keeps a section's VMA when it cannot honour it; a
    // section at the wrong address would not be found by the stub.
    PeImage built = read_pe(tmp);
    for (std::size_t i = 0; i < sections.size(); ++i) {
      auto it = std::find_if(built.sections.begin(), built.sections.end(),
                             [&](const PeSection& s) { return s.name == sections[i].name; });
      if (it == built.sections.end() || built.image_base + it->rva != placements[i].vma ||
          it->virtual_size != sizes[i].second) {
        throw Error(ErrorKind::Internal, fmt::format("objcopy did not place section {} of {} at {:#x} ({} bytes)",
                                                     sections[i].name, output, placements[i].vma, sizes[i].second));
      }
    }
    if (::rename(tmp.c_str(), output.c_str()) != 0) throw_errno("rename", tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  log::debug("UKI {}: {} sections added to {}", output, sections.size(), stub);
}

}  // namespace imgrecipe::uki
