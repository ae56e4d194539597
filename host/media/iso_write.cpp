#include "host/media/iso_write.hpp"
#include "host/media/iso_read.hpp"

#include <sys/stat.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/process.hpp"
#include "host/system/tool_output.hpp"

namespace imgrecipe::iso {
namespace {

// GPT type of the ISO partition: Microsoft basic data, as Ubuntu's and
// GRUB's hybrid ISOs (firmware and partitioners leave it alone).
constexpr const char* kIsoPartType = "a2a0d0ebe5b9334487c068b6b72699c7";

// A clean absolute ISO path: "/" then components, no ".", ".." or "//".
std::string check_iso_path(const std::string& field, const std::string& p) {
  if (p.empty() || p[0] != '/') throw_usage(fmt::format("{}: '{}' is not an absolute path on the ISO", field, p));
  std::string out;
  std::size_t i = 1;
  while (i <= p.size()) {
    std::size_t j = std::min(p.find('/', i), p.size());
    std::string c = p.substr(i, j - i);
    if (c == "." || c == "..") throw_usage(fmt::format("{}: '{}' has a '{}' component", field, p, c));
    if (!c.empty()) out += "/" + c;
    i = j + 1;
  }
  if (out.empty()) throw_usage(fmt::format("{}: '{}' names the ISO's root, not a file", field, p));
  for (unsigned char ch : out)
    if (ch < 0x20 || ch == 0x7f) throw_usage(fmt::format("{}: '{}' contains a control character", field, p));
  return out;
}

void check_text(const std::string& field, const std::string& v, std::size_t max) {
  if (v.size() > max) throw_usage(fmt::format("{} '{}' is longer than {} characters", field, v, max));
  for (unsigned char c : v)
    if (c < 0x20 || c > 0x7e) throw_usage(fmt::format("{} '{}' may only hold printable ASCII characters", field, v));
}

void require_source(const std::string& field, const std::string& path, bool dir_ok) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    Error e(ErrorKind::Usage, fmt::format("{}: {}: {}", field, path, std::strerror(err)));
    e.sys_errno = err;
    e.op = "ISO source";
    e.target = path;
    throw e;
  }
  if (!S_ISREG(st.st_mode) && !(dir_ok && S_ISDIR(st.st_mode)))
    throw_usage(fmt::format("{}: {} is not a {}", field, path, dir_ok ? "file or directory" : "regular file"));
}

}  // namespace

std::string graft_point(const std::string& iso_path, const std::string& source) {
  std::string out;
  auto add = [&](const std::string& s) {
    for (char c : s) {
      if (c == '\\' || c == '=') out += '\\';
      out += c;
    }
  };
  add(iso_path);
  out += '=';
  add(source);
  return out;
}

void check_spec(const Spec& s) {
  if (s.volume_id.empty()) throw_usage("ISO volume_id is empty");
  check_text("ISO volume_id", s.volume_id, 32);
  check_text("ISO application_id", s.application_id, 128);
  check_text("ISO publisher", s.publisher, 128);
  if (s.tree.empty() && s.files.empty()) throw_usage("ISO: neither a tree nor files to put on it");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < s.files.size(); ++i) {
    std::string field = fmt::format("ISO files[{}]", i + 1);
    if (s.files[i].source.empty()) throw_usage(field + ": source is empty");
    std::string p = check_iso_path(field + ".path", s.files[i].path);
    if (!seen.insert(p).second) throw_usage(fmt::format("{}: {} is already given by another file", field, p));
  }
  bool booting = !s.efi_boot_image.empty() || s.bios;
  if (booting) check_iso_path("ISO catalog_path", s.catalog_path);
  if (s.bios) {
    if (s.bios->image.empty()) throw_usage("ISO bios.image is empty");
    std::string p = check_iso_path("ISO bios.path", s.bios->path);
    if (seen.count(p) != 0) throw_usage(fmt::format("ISO bios.path: {} is also given by files", p));
  }
  if (s.timestamp && (*s.timestamp < 0 || *s.timestamp > 253402300799))
    throw_usage(fmt::format("ISO timestamp {} is outside year 1970..9999", *s.timestamp));
}

std::vector<std::string> command(const Spec& s, const std::string& out) {
  check_spec(s);
  std::vector<std::string> a = xorriso_argv({"-as", "mkisofs", "-o", out, "-iso-level", "3", "-V", s.volume_id});
  if (s.rock_ridge) a.push_back("-R");
  if (s.joliet) a.insert(a.end(), {"-J", "-joliet-long"});
  if (s.timestamp) {
    // SOURCE_DATE_EPOCH (set when run) fixes the volume dates and UUIDs;
    // this fixes every file's, including directories xorriso makes itself.
    std::time_t t = static_cast<std::time_t>(*s.timestamp);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    a.insert(a.end(), {"--set_all_file_dates", fmt::format("{:04}{:02}{:02}{:02}{:02}{:02}00", tm.tm_year + 1900,
                                                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)});
  }
  if (!s.application_id.empty()) a.insert(a.end(), {"-A", s.application_id});
  if (!s.publisher.empty()) a.insert(a.end(), {"-publisher", s.publisher});
  const bool efi = !s.efi_boot_image.empty();
  const bool hybrid = s.bios && !s.bios->hybrid_mbr.empty();
  if (hybrid) {
    a.insert(a.end(), {"--grub2-mbr", s.bios->hybrid_mbr, "-partition_offset", "16", "--mbr-force-bootable"});
  }
  if (efi) {
    // Partition 2: the ESP after the ISO; partition 1 is the ISO itself.
    a.insert(a.end(), {"-append_partition", "2", "0xef", s.efi_boot_image, "-appended_part_as_gpt"});
    if (hybrid) a.insert(a.end(), {"-iso_mbr_part_type", kIsoPartType});
  }
  if (efi || s.bios) a.insert(a.end(), {"-c", check_iso_path("catalog", s.catalog_path)});
  if (s.bios) {
    a.insert(a.end(), {"-b", check_iso_path("bios.path", s.bios->path), "-no-emul-boot", "-boot-load-size", "4",
                       "-boot-info-table"});
    if (s.bios->grub2_boot_info) a.push_back("--grub2-boot-info");
  }
  if (efi) {
    if (s.bios) a.push_back("-eltorito-alt-boot");
    a.insert(a.end(), {"-e", "--interval:appended_partition_2:all::", "-no-emul-boot"});
  }
  a.push_back("-graft-points");
  if (!s.tree.empty()) a.push_back(graft_point("/", s.tree));
  for (const auto& f : s.files) a.push_back(graft_point(check_iso_path("path", f.path), f.source));
  if (s.bios) a.push_back(graft_point(check_iso_path("bios.path", s.bios->path), s.bios->image));
  return a;
}

void write(const Spec& spec, const std::string& out) {
  command(spec, out);  // usage errors before anything is touched
  // Absolute host paths: xorriso would read "-x" or "--interval:..." as
  // options or data sources of its own.
  Spec s = spec;
  auto absolute = [](std::string& p) {
    if (!p.empty()) p = std::filesystem::absolute(p).string();
  };
  absolute(s.tree);
  for (auto& f : s.files) absolute(f.source);
  absolute(s.efi_boot_image);
  if (s.bios) {
    absolute(s.bios->image);
    absolute(s.bios->hybrid_mbr);
  }
  if (!s.tree.empty()) {
    require_source("ISO tree", s.tree, true);
    struct stat st;
    if (::stat(s.tree.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) throw_usage(fmt::format("ISO tree {} is not a directory", s.tree));
  }
  for (std::size_t i = 0; i < s.files.size(); ++i)
    require_source(fmt::format("ISO files[{}] ({})", i + 1, s.files[i].path), s.files[i].source, true);
  if (!s.efi_boot_image.empty()) require_source("ISO efi_boot_image", s.efi_boot_image, false);
  if (s.bios) {
    require_source("ISO bios.image", s.bios->image, false);
    if (!s.bios->hybrid_mbr.empty()) {
      require_source("ISO bios.hybrid_mbr", s.bios->hybrid_mbr, false);
      struct stat st;
      ::stat(s.bios->hybrid_mbr.c_str(), &st);
      if (st.st_size != 512)
        throw_usage(fmt::format("ISO bios.hybrid_mbr {} is {} bytes, not a 512-byte MBR (GRUB's boot_hybrid.img)",
                                s.bios->hybrid_mbr, st.st_size));
    }
  }
  require_xorriso();
  ToolOutput output(out);
  RunOptions ro = xorriso_options();
  if (s.timestamp) ro.env->push_back(fmt::format("SOURCE_DATE_EPOCH={}", *s.timestamp));
  ro.step = "xorriso";
  log::info("writing ISO {} (volume '{}'{}{})", out, s.volume_id, s.efi_boot_image.empty() ? "" : ", UEFI boot",
            s.bios ? (s.bios->hybrid_mbr.empty() ? ", BIOS CD boot" : ", BIOS CD and disk boot") : "");
  run_checked(command(s, output.tmp()), ro);
  output.commit();
}

}  // namespace imgrecipe::iso
