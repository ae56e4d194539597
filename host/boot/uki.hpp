// Unified Kernel Images (UKI): a systemd EFI stub (linuxx64.efi.stub, or the
// addon stub for a command-line addon) with the kernel, initrd, command line
// and os-release added as PE sections, the way `ukify build` lays them out
// (systemd's ukify: each new section placed after the stub's last one, at
// the next multiple of the stub's SectionAlignment, .linux last). Assembled
// with binutils' objcopy; the PE headers are read in process, for the layout
// and to read a UKI's sections back (what `ukify inspect` shows).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace imgrecipe::uki {

struct PeSection {
  std::string name;
  std::uint32_t rva = 0;           // VirtualAddress (relative to ImageBase)
  std::uint32_t virtual_size = 0;  // Misc.VirtualSize: the bytes in memory
  std::uint32_t raw_offset = 0;    // PointerToRawData
  std::uint32_t raw_size = 0;      // SizeOfRawData (file-aligned)
};

struct PeImage {
  std::uint16_t machine = 0;  // 0x8664 x86-64, 0xaa64 arm64
  std::uint64_t image_base = 0;
  std::uint32_t section_alignment = 0;
  std::uint32_t file_alignment = 0;
  std::vector<PeSection> sections;
};

// Parses the PE/COFF headers of an EFI binary. Usage error naming the file
// when it is not a PE32+ image.
PeImage read_pe(const std::string& path);

// The contents of section `name` (its VirtualSize bytes, the zero padding of
// the file alignment left out). Usage error when the section is missing.
std::string read_section(const std::string& path, std::string_view name);

// A section to add: `file` is a host file whose bytes become the section.
struct Section {
  std::string name;  // ".osrel", ".cmdline", ".uname", ".initrd", ".linux", ...
  std::string file;
};

struct Placement {
  std::string name;
  std::uint64_t vma = 0;  // absolute: ImageBase + RVA (what objcopy takes)
};

// Where each new section goes (pure): after the highest end (RVA +
// VirtualSize) of the stub's sections, each at the next multiple of
// `alignment` (0: the stub's SectionAlignment, at least 4096), in order.
std::vector<Placement> place_sections(const PeImage& stub, const std::vector<std::pair<std::string, std::uint64_t>>& sizes,
                                      std::uint32_t alignment = 0);

// The objcopy command line that writes `output` from `stub` with `sections`
// added at `placements` (pure).
std::vector<std::string> objcopy_argv(const std::string& stub, const std::vector<Section>& sections,
                                      const std::vector<Placement>& placements, const std::string& output);

// Builds the UKI (or addon) `output` from `stub` and `sections` with
// objcopy, written beside `output` and renamed into place. Checks that
// every section landed where it was placed. Sections must not already exist
// in the stub.
void assemble(const std::string& stub, const std::vector<Section>& sections, const std::string& output);

}  // namespace imgrecipe::uki
