// Reading ISO 9660 images without mounting them (the kernel here has no
// iso9660): listing, extracting files and trees, the volume ID, and the boot
// records (El Torito catalog, MBR and GPT of a hybrid ISO), all through
// xorriso. The report parsers are pure functions.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "host/system/process.hpp"

namespace imgrecipe::iso {

// Throws ErrorKind::Unsupported naming the Debian package when xorriso is missing.
void require_xorriso();
// The environment xorriso runs with (UTF-8 names, UTC dates).
RunOptions xorriso_options();
// "xorriso" and the settings every call starts with, then `args`. Signals
// keep their default action: libburn's own handler would turn any signal
// into a bare exit code 1; this way it is reported as the signal it was.
std::vector<std::string> xorriso_argv(std::initializer_list<std::string> args);

struct Entry {
  std::string path;  // "/" for the root, else "/boot/grub/grub.cfg"
  char type = '?';   // '-' file, 'd' directory, 'l' symlink, 'c', 'b', 'p', 's'
  std::uint32_t mode = 0;  // permission bits
  std::uint32_t uid = 0, gid = 0;
  std::uint64_t size = 0;
  std::string link_target;
};

// Decodes one name as xorriso prints it with `-backslash_codes
// encode_output`: shell single quotes ('it'"'"'s') around C-style escapes
// (\n, \\, \ooo). Returns the name and the position after it.
std::pair<std::string, std::size_t> decode_quoted(const std::string& text, std::size_t pos);
// The C-style escapes alone.
std::string decode_escapes(const std::string& text);
// Parses `-find / -exec lsdl` output.
std::vector<Entry> parse_listing(const std::string& text);

struct BootEntry {
  int number = 0;         // 1-based position in the catalog
  std::string platform;   // "BIOS", "UEFI", "PPC", "Mac", or as printed
  int platform_id = -1;   // 0x00 BIOS, 0xEF UEFI, 0x01 PPC, 0x02 Mac
  bool bootable = false;
  std::string emulation;  // "none", "fd1.2", "fd1.4", "fd2.8", "hd"
  std::uint32_t load_size = 0;  // 512-byte sectors loaded by the firmware
  std::uint64_t lba = 0;        // 2048-byte block of the image
  std::string path;             // the image's file on the ISO; "" when hidden (e.g. an appended partition)
  std::string options;          // "boot-info-table grub2-boot-info"
};

struct Partition {
  int number = 0;
  std::string type;       // MBR: "0xef"; GPT: the type GUID, canonical lower case
  std::uint64_t start = 0, sectors = 0;  // 512-byte sectors
  bool bootable = false;  // MBR status 0x80
  std::string name;       // GPT only
};

struct BootReport {
  std::string volume_id;
  std::string system_area;  // "MBR protective-msdos-label grub2-mbr cyl-align-off GPT"; "" none
  std::string catalog_path;
  std::vector<BootEntry> entries;
  std::vector<Partition> mbr;
  std::vector<Partition> gpt;
};

// Parses `-pvd_info` + `-report_el_torito plain` + `-report_system_area
// plain` output.
BootReport parse_boot_report(const std::string& text);

std::vector<Entry> list(const std::string& iso);
std::string volume_id(const std::string& iso);
BootReport boot_report(const std::string& iso);
// xorriso's `-report_el_torito as_mkisofs`: the options that would make the
// same boot setup, one per line (for messages and ISO → ISO rebuilds).
std::string boot_options(const std::string& iso);

// Extracts the file or tree `iso_path` to `dest`, which must not exist (its
// parent must); Rock Ridge modes and symlinks are restored. Removed again
// on error or interruption.
void extract(const std::string& iso, const std::string& iso_path, const std::string& dest);
// Extracts the ISO's boot images into the new directory `dest` (xorriso
// -extract_boot_images): eltorito_img<N>_<platform>.img per El Torito entry
// (also those hidden in an appended partition), eltorito_catalog.img,
// systemarea.img (the first 32 KiB), mbr_code_*.img, gpt_part<N>_*.img.
// Returns the names made, sorted.
std::vector<std::string> extract_boot_images(const std::string& iso, const std::string& dest);

// The content of one regular file on the ISO (at most `max_bytes`).
std::string read_file(const std::string& iso, const std::string& iso_path, const std::string& work_dir,
                      std::size_t max_bytes = 16u << 20);

}  // namespace imgrecipe::iso
