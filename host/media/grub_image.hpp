// GRUB core images for boot media, made with grub-mkimage from a GRUB
// module directory: the host's (grub-pc-bin, grub-efi-amd64-bin) or one
// inside an image. The El Torito BIOS image (i386-pc-eltorito: cdboot.img +
// core) and a removable-media EFI loader (x86_64-efi, EFI/BOOT/BOOTX64.EFI).
#pragma once

#include <string>
#include <vector>

namespace imgrecipe::grub {

enum class Target { BiosEltorito, Efi64 };

// "bios-eltorito" or "x86_64-efi"; usage error otherwise.
Target parse_target(const std::string& name);

struct ImageOptions {
  Target target = Target::BiosEltorito;
  std::string module_dir;  // "": /usr/lib/grub/i386-pc or /usr/lib/grub/x86_64-efi
  std::string prefix = "/boot/grub";  // where GRUB looks for grub.cfg and modules ("(device)/path" allowed)
  std::vector<std::string> modules;   // empty: default_modules(target)
  std::string config_file;            // host file embedded as the early config; "" none
};

// Modules a boot-media GRUB needs without loading any from the media: the
// ISO and partition tables, search, linux, console, serial.
std::vector<std::string> default_modules(Target target);
std::string default_module_dir(Target target);
// grub-mkimage's arguments (pure).
std::vector<std::string> mkimage_command(const ImageOptions& opts, const std::string& out);

// Makes the image `out` atomically. Errors name the missing Debian package
// (grub-common for grub-mkimage, grub-pc-bin / grub-efi-amd64-bin for the
// default module directories).
void make_image(const ImageOptions& opts, const std::string& out);

// GRUB's hybrid MBR boot code (boot_hybrid.img) in `module_dir` ("": the
// host's i386-pc directory); Unsupported naming grub-pc-bin when missing.
std::string hybrid_mbr(const std::string& module_dir = "");

}  // namespace imgrecipe::grub
