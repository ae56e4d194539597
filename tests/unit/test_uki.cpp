// boot/uki: PE/COFF headers and sections read from a hand-made PE32+ file,
// ukify's section placement and the objcopy command line (pure), and, when
// the host's objcopy can write PE files, a UKI assembled from that stub.
#include <doctest.h>

#include <cstring>

#include "host/boot/uki.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

void put16(std::string& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<char>(v & 0xff);
  b[at + 1] = static_cast<char>(v >> 8);
}
void put32(std::string& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// A PE32+ EFI application shaped like systemd 252's stub: SectionAlignment
// and FileAlignment 0x200, ImageBase 0, .text then .sdmagic at 0x19100.
std::string make_stub() {
  std::string b(0xa00, '\0');
  b[0] = 'M';
  b[1] = 'Z';
  put32(b, 0x3c, 0x40);
  std::memcpy(&b[0x40], "PE\0\0", 4);
  put16(b, 0x44, 0x8664);  // machine
  put16(b, 0x46, 2);       // sections
  put16(b, 0x54, 240);     // optional header size
  put16(b, 0x56, 0x206);   // characteristics
  const std::size_t o = 0x58;
  put16(b, o, 0x20b);
  put32(b, o + 16, 0x1000);  // entry point
  // ImageBase (o + 24) stays 0
  put32(b, o + 32, 0x200);  // SectionAlignment
  put32(b, o + 36, 0x200);  // FileAlignment
  put32(b, o + 56, 0x19400);  // SizeOfImage
  put32(b, o + 60, 0x400);    // SizeOfHeaders
  put16(b, o + 68, 10);       // EFI application
  put32(b, o + 108, 16);      // data directories
  std::size_t s = o + 240;
  std::memcpy(&b[s], ".text", 5);
  put32(b, s + 8, 0x10);
  put32(b, s + 12, 0x1000);
  put32(b, s + 16, 0x200);
  put32(b, s + 20, 0x400);
  put32(b, s + 36, 0x60000020);
  s += 40;
  std::memcpy(&b[s], ".sdmagic", 8);
  put32(b, s + 8, 0x34);
  put32(b, s + 12, 0x19100);
  put32(b, s + 16, 0x200);
  put32(b, s + 20, 0x600);
  put32(b, s + 36, 0x40000040);
  b[0x400] = '\xc3';  // ret
  std::memcpy(&b[0x600], "#### LoaderInfo: systemd-stub 252 ####", 38);
  return b;
}

}  // namespace

TEST_CASE("uki: read_pe and read_section of a PE32+ stub") {
  TempDir dir;
  const std::string stub = dir.path + "/stub.efi";
  write_file(stub, make_stub());
  uki::PeImage pe = uki::read_pe(stub);
  CHECK(pe.machine == 0x8664);
  CHECK(pe.image_base == 0);
  CHECK(pe.section_alignment == 0x200);
  REQUIRE(pe.sections.size() == 2);
  CHECK(pe.sections[1].name == ".sdmagic");
  CHECK(pe.sections[1].rva == 0x19100);
  CHECK(pe.sections[1].virtual_size == 0x34);
  CHECK(uki::read_section(stub, ".sdmagic").substr(0, 38) == "#### LoaderInfo: systemd-stub 252 ####");
  CHECK(uki::read_section(stub, ".sdmagic").size() == 0x34);
  CHECK_THROWS_WITH_AS(uki::read_section(stub, ".cmdline"), doctest::Contains("no .cmdline section"), Error);

  write_file(dir.path + "/elf", "\x7f" "ELF not a PE file at all, long enough for a DOS header............");
  CHECK_THROWS_WITH_AS(uki::read_pe(dir.path + "/elf"), doctest::Contains("not a PE32+ EFI image (no MZ header)"), Error);
}

TEST_CASE("uki: sections placed after the stub at 4 KiB boundaries, in order") {
  TempDir dir;
  write_file(dir.path + "/stub.efi", make_stub());
  uki::PeImage pe = uki::read_pe(dir.path + "/stub.efi");
  auto p = uki::place_sections(pe, {{".osrel", 300}, {".cmdline", 0}, {".linux", 0x2000}});
  REQUIRE(p.size() == 3);
  // The stub ends at 0x19100 + 0x200 (its raw size is larger than its VirtualSize).
  CHECK(p[0].vma == 0x1a000);
  CHECK(p[1].vma == 0x1b000);
  CHECK(p[2].vma == 0x1c000);
  pe.image_base = 0x140000000;
  CHECK(uki::place_sections(pe, {{".osrel", 1}})[0].vma == 0x14001a000);
  CHECK_THROWS_WITH_AS(uki::place_sections(pe, {{".sdmagic", 1}}), doctest::Contains("already has a .sdmagic section"),
                       Error);
  auto argv = uki::objcopy_argv("s.efi", {{".osrel", "o"}, {".linux", "k"}}, {{".osrel", 0x1a000}, {".linux", 0x1b000}},
                                "out.efi");
  CHECK(argv == std::vector<std::string>{"objcopy", "--add-section", ".osrel=o", "--change-section-vma",
                                         ".osrel=0x1a000", "--add-section", ".linux=k", "--change-section-vma",
                                         ".linux=0x1b000", "s.efi", "out.efi"});
}

TEST_CASE("uki: assemble adds the sections where they were placed") {
  TempDir dir;
  const std::string stub = dir.path + "/stub.efi";
  write_file(stub, make_stub());
  write_file(dir.path + "/cmdline", "root=/dev/mapper/root ro");
  write_file(dir.path + "/linux", std::string(5000, 'k'));
  const std::string out = dir.path + "/uki.efi";
  uki::assemble(stub, {{".cmdline", dir.path + "/cmdline"}, {".linux", dir.path + "/linux"}}, out);
  uki::PeImage pe = uki::read_pe(out);
  std::vector<std::string> names;
  for (const auto& s : pe.sections) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{".text", ".sdmagic", ".cmdline", ".linux"});
  CHECK(pe.sections[2].rva == 0x1a000);
  CHECK(pe.sections[3].rva == 0x1b000);
  CHECK(uki::read_section(out, ".cmdline") == "root=/dev/mapper/root ro");
  CHECK(uki::read_section(out, ".linux") == std::string(5000, 'k'));
  CHECK(uki::read_section(out, ".sdmagic").substr(0, 12) == "#### LoaderI");
  CHECK_THROWS_WITH_AS(uki::assemble(stub, {{"bad", dir.path + "/cmdline"}}, out), doctest::Contains("UKI section name"),
                       Error);
  CHECK_THROWS_WITH_AS(uki::assemble(stub, {{".x", dir.path + "/missing"}}, dir.path + "/o2"),
                       doctest::Contains("missing"), Error);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/o2"));
}
