// ISO 9660 images with xorriso (its mkisofs emulation): Rock Ridge, Joliet,
// a volume ID, files from a staging tree plus single files placed at chosen
// paths, and boot records:
//
// - UEFI: a FAT image (host/fs/fat_image) appended after the ISO as a GPT
//   partition of type EFI System, and an El Torito entry (platform 0xEF)
//   pointing at that same partition: a CD boots it through El Torito, a USB
//   disk through the GPT.
// - BIOS: an El Torito no-emulation image (GRUB's i386-pc eltorito.img,
//   host/media/grub_image) placed in the tree, with GRUB's boot info
//   patched in; with a hybrid MBR (GRUB's boot_hybrid.img) the same file
//   also boots as a disk on BIOS: the MBR code loads the El Torito image.
//
// Both together give one file that boots as CD and as USB disk on BIOS and
// UEFI, laid out like Ubuntu's and GRUB's own hybrid ISOs: ISO partition
// at 32 KiB (-partition_offset 16), appended ESP, protective GPT.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace imgrecipe::iso {

// A host file or directory and where it goes on the ISO.
struct File {
  std::string source;
  std::string path;  // absolute path on the ISO, e.g. "/LiveOS/squashfs.img"
};

struct BiosBoot {
  std::string image;  // host file: El Torito no-emulation boot image
  std::string path = "/boot/grub/i386-pc/eltorito.img";  // where it is put on the ISO
  bool grub2_boot_info = true;  // --grub2-boot-info: GRUB's image needs its own location patched in
  std::string hybrid_mbr;       // host file: 512-byte MBR boot code (GRUB's boot_hybrid.img); "" CD only
};

struct Spec {
  std::string volume_id;  // 1..32 printable ASCII characters (GRUB finds the ISO by it)
  std::string tree;       // host directory whose content is the ISO's root; "" none
  std::vector<File> files;      // each replaces the tree's file at the same path
  std::string efi_boot_image;  // host FAT image file; "" no UEFI boot
  std::optional<BiosBoot> bios;
  bool rock_ridge = true;  // POSIX names, modes, owners, symlinks
  bool joliet = true;      // Windows names
  std::string catalog_path = "/boot.catalog";  // the El Torito catalog file, when booting
  // Reproducible output: every date in the ISO (SOURCE_DATE_EPOCH for xorriso).
  std::optional<std::int64_t> timestamp;
  std::string application_id;
  std::string publisher;
};

// Checks the spec's values (not the host files): usage errors naming the field.
void check_spec(const Spec& spec);
// xorriso's arguments to write `out` (pure).
std::vector<std::string> command(const Spec& spec, const std::string& out);
// "path=source" with '\' and '=' escaped, as -graft-points reads it.
std::string graft_point(const std::string& iso_path, const std::string& source);

// Writes the ISO `out` atomically (a temporary beside it, renamed when
// complete; nothing left on error or interruption). Every host source must
// exist first; relative ones are taken from the current directory.
void write(const Spec& spec, const std::string& out);

}  // namespace imgrecipe::iso
