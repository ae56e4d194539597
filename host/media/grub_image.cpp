#include "host/media/grub_image.hpp"

#include <sys/stat.h>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/process.hpp"
#include "host/system/tool_output.hpp"

namespace imgrecipe::grub {
namespace {

bool is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

const char* package(Target t) { return t == Target::BiosEltorito ? "grub-pc-bin" : "grub-efi-amd64-bin"; }

// A file that only a complete module directory of this target has.
const char* marker(Target t) { return t == Target::BiosEltorito ? "cdboot.img" : "kernel.img"; }

std::string module_dir_of(const ImageOptions& o) {
  return o.module_dir.empty() ? default_module_dir(o.target) : o.module_dir;
}

}  // namespace

Target parse_target(const std::string& name) {
  if (name == "bios-eltorito") return Target::BiosEltorito;
  if (name == "x86_64-efi") return Target::Efi64;
  throw_usage(fmt::format("GRUB image target '{}' is not bios-eltorito or x86_64-efi", name));
}

std::string default_module_dir(Target t) {
  return t == Target::BiosEltorito ? "/usr/lib/grub/i386-pc" : "/usr/lib/grub/x86_64-efi";
}

std::vector<std::string> default_modules(Target t) {
  std::vector<std::string> m = {"iso9660", "part_gpt", "part_msdos", "fat", "ext2", "squash4", "normal",
                                "configfile", "search", "search_label", "search_fs_uuid", "search_fs_file",
                                "linux", "echo", "test", "ls", "cat", "halt", "reboot", "serial", "terminal",
                                "gzio", "loopback", "regexp", "sleep", "all_video", "font", "gfxterm"};
  if (t == Target::BiosEltorito) m.insert(m.begin(), {"biosdisk"});
  else m.insert(m.end(), {"efi_gop", "chain"});
  return m;
}

std::vector<std::string> mkimage_command(const ImageOptions& o, const std::string& out) {
  if (o.prefix.empty()) throw_usage("GRUB image prefix is empty");
  std::vector<std::string> a = {"grub-mkimage", "-O", o.target == Target::BiosEltorito ? "i386-pc-eltorito" : "x86_64-efi",
                                "-d", module_dir_of(o), "-p", o.prefix, "-o", out};
  if (!o.config_file.empty()) a.insert(a.end(), {"-c", o.config_file});
  for (const auto& m : o.modules.empty() ? default_modules(o.target) : o.modules) {
    if (m.empty() || m.find_first_of("/ \t\n") != std::string::npos || m[0] == '-')
      throw_usage(fmt::format("GRUB module name '{}' is not valid", m));
    a.push_back(m);
  }
  return a;
}

void make_image(const ImageOptions& o, const std::string& out) {
  auto argv = mkimage_command(o, out);
  if (find_program("grub-mkimage").empty())
    throw Error(ErrorKind::Unsupported, "grub-mkimage is not installed on this host (Debian package grub-common)");
  const std::string dir = module_dir_of(o);
  if (!is_file(dir + "/" + marker(o.target)) || !is_file(dir + "/normal.mod")) {
    if (o.module_dir.empty())
      throw Error(ErrorKind::Unsupported, fmt::format("GRUB's {} modules are not installed on this host "
                                                      "(Debian package {})", o.target == Target::BiosEltorito ? "i386-pc" : "x86_64-efi", package(o.target)));
    throw_usage(fmt::format("{} is not a GRUB {} module directory (no {})", dir,
                            o.target == Target::BiosEltorito ? "i386-pc" : "x86_64-efi", marker(o.target)));
  }
  if (!o.config_file.empty() && !is_file(o.config_file))
    throw_usage(fmt::format("GRUB embedded config {} is not a file", o.config_file));
  ToolOutput output(out);
  RunOptions ro;
  ro.step = "grub-mkimage";
  run_checked(mkimage_command(o, output.tmp()), ro);
  log::info("made GRUB {} image {}", o.target == Target::BiosEltorito ? "BIOS El Torito" : "x86_64 EFI", out);
  output.commit();
}

std::string hybrid_mbr(const std::string& module_dir) {
  std::string dir = module_dir.empty() ? default_module_dir(Target::BiosEltorito) : module_dir;
  std::string p = dir + "/boot_hybrid.img";
  if (is_file(p)) return p;
  if (module_dir.empty())
    throw Error(ErrorKind::Unsupported, "GRUB's boot_hybrid.img is not installed on this host (Debian package grub-pc-bin)");
  throw_usage(fmt::format("{} has no boot_hybrid.img (GRUB i386-pc)", dir));
}

}  // namespace imgrecipe::grub
