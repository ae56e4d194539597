#include "host/inspect/os.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "host/system/process.hpp"

namespace imgrecipe::inspect {
namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n\0", std::string::npos, 5);
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t end = s.find(sep, pos);
    out.push_back(s.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return out;
}

// A shell-like word: '...' or "..." quotes removed.
std::string unquote(const std::string& v) {
  if (v.size() >= 2 && (v[0] == '"' || v[0] == '\'') && v.back() == v[0]) {
    std::string out;
    for (size_t i = 1; i + 1 < v.size(); ++i) {
      if (v[0] == '"' && v[i] == '\\' && i + 2 < v.size()) ++i;
      out += v[i];
    }
    return out;
  }
  return v;
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

}  // namespace

std::map<std::string, std::string> parse_os_release(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& raw : lines(text)) {
    std::string l = trim(raw);
    if (l.empty() || l[0] == '#') continue;
    auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    out[l.substr(0, eq)] = unquote(l.substr(eq + 1));
  }
  return out;
}

std::vector<User> parse_passwd(const std::string& text) {
  std::vector<User> out;
  for (const auto& l : lines(text)) {
    auto f = split(l, ':');
    if (f.size() < 7 || f[0].empty()) continue;
    User u;
    u.name = f[0];
    try {
      u.uid = std::stol(f[2]);
      u.gid = std::stol(f[3]);
    } catch (...) {
      continue;
    }
    u.home = f[5];
    u.shell = f[6];
    out.push_back(u);
  }
  return out;
}

std::vector<Package> parse_dpkg_status(const std::string& text) {
  std::vector<Package> out;
  Package p;
  bool installed = false;
  auto flush = [&] {
    if (installed && !p.name.empty()) out.push_back(p);
    p = {};
    installed = false;
  };
  for (const auto& l : lines(text)) {
    if (trim(l).empty()) {
      flush();
      continue;
    }
    if (starts_with(l, "Package: ")) p.name = trim(l.substr(9));
    else if (starts_with(l, "Version: ")) p.version = trim(l.substr(9));
    else if (starts_with(l, "Architecture: ")) p.arch = trim(l.substr(14));
    else if (starts_with(l, "Status: ")) installed = trim(l.substr(8)) == "install ok installed";
  }
  flush();
  std::sort(out.begin(), out.end(), [](const Package& a, const Package& b) { return a.name < b.name; });
  return out;
}

std::vector<BootEntry> parse_grub_cfg(const std::string& text) {
  std::vector<BootEntry> out;
  std::vector<std::string> titles;  // enclosing menuentry/submenu titles
  for (const auto& raw : lines(text)) {
    std::string l = trim(raw);
    if (starts_with(l, "menuentry ") || starts_with(l, "submenu ")) {
      std::string rest = trim(l.substr(l.find(' ')));
      std::string title;
      if (!rest.empty() && (rest[0] == '\'' || rest[0] == '"')) {
        auto end = rest.find(rest[0], 1);
        title = rest.substr(1, end == std::string::npos ? std::string::npos : end - 1);
      }
      titles.push_back(title);
      continue;
    }
    if (l == "}" && !titles.empty()) {
      titles.pop_back();
      continue;
    }
    if (starts_with(l, "linux ") || starts_with(l, "linux\t") || starts_with(l, "linuxefi ") ||
        starts_with(l, "linuxefi\t")) {
      std::string rest = trim(l.substr(l.find_first_of(" \t")));
      BootEntry e;
      auto sp = rest.find_first_of(" \t");
      e.kernel = rest.substr(0, sp);
      e.cmdline = sp == std::string::npos ? "" : trim(rest.substr(sp));
      e.title = titles.empty() ? "" : titles.back();
      out.push_back(e);
    }
  }
  return out;
}

BootEntry parse_loader_entry(const std::string& text) {
  BootEntry e;
  for (const auto& raw : lines(text)) {
    std::string l = trim(raw);
    auto sp = l.find_first_of(" \t");
    if (sp == std::string::npos) continue;
    std::string key = l.substr(0, sp), value = trim(l.substr(sp));
    if (key == "title") e.title = value;
    else if (key == "linux" || key == "uki") e.kernel = value;
    else if (key == "options") e.cmdline = e.cmdline.empty() ? value : e.cmdline + " " + value;
  }
  return e;
}

std::string pe_section(const std::string& pe, const std::string& name) {
  auto u16 = [&](size_t o) -> unsigned { return o + 2 <= pe.size() ? (unsigned char)pe[o] | (unsigned char)pe[o + 1] << 8 : 0; };
  auto u32 = [&](size_t o) -> std::uint32_t {
    return o + 4 <= pe.size() ? std::uint32_t(u16(o)) | std::uint32_t(u16(o + 2)) << 16 : 0;
  };
  if (pe.size() < 0x40 || pe.compare(0, 2, "MZ") != 0) return "";
  size_t nt = u32(0x3c);
  if (nt + 24 > pe.size() || pe.compare(nt, 4, std::string("PE\0\0", 4)) != 0) return "";
  unsigned sections = u16(nt + 6), opt_size = u16(nt + 20);
  size_t table = nt + 24 + opt_size;
  for (unsigned i = 0; i < sections; ++i) {
    size_t s = table + i * 40;
    if (s + 40 > pe.size()) break;
    std::string sname(pe.data() + s, strnlen(pe.data() + s, 8));
    if (sname != name) continue;
    std::uint32_t vsize = u32(s + 8), raw_size = u32(s + 16), raw_off = u32(s + 20);
    std::uint32_t n = std::min(vsize ? vsize : raw_size, raw_size);
    if (raw_off + std::uint64_t(n) > pe.size()) return "";
    return trim(pe.substr(raw_off, n));
  }
  return "";
}

namespace {

void read_rpm(View& view, const std::string& scratch, OsInfo& os) {
  for (const std::string dir : {"/var/lib/rpm", "/usr/lib/sysimage/rpm"}) {
    std::vector<std::string> names = view.list(dir);
    bool db = false;
    for (const auto& n : names) db = db || n == "rpmdb.sqlite" || n == "Packages" || n == "Packages.db";
    if (!db) continue;
    // rpm opens its database for writing (locks, WAL): give it a copy.
    std::string copy = scratch + "/rpmdb";
    std::filesystem::create_directories(copy);
    for (const auto& n : names) {
      auto data = view.read(dir + "/" + n);
      if (!data) continue;
      std::ofstream(copy + "/" + n, std::ios::binary) << *data;
    }
    os.package_format = "rpm";
    RunOptions o;
    o.capture_stdout = true;
    o.output_level = log::Level::Trace;
    RunResult r = run({"rpm", "--dbpath", copy, "-qa", "--qf", "%{NAME}\\t%{EVR}\\t%{ARCH}\\n"}, o);
    if (r.exit_code != 0) {
      os.notes.push_back("packages: rpm could not read the database in " + dir);
      return;
    }
    for (const auto& l : lines(r.out)) {
      auto f = split(l, '\t');
      if (f.size() == 3 && !f[0].empty()) os.packages.push_back({f[0], f[1], f[2]});
    }
    std::sort(os.packages.begin(), os.packages.end(), [](const Package& a, const Package& b) { return a.name < b.name; });
    return;
  }
}

void add_kernel(OsInfo& os, const std::string& v) {
  if (!v.empty() && std::find(os.kernels.begin(), os.kernels.end(), v) == os.kernels.end()) os.kernels.push_back(v);
}

}  // namespace

OsInfo read_os(View& view, const std::string& scratch) {
  OsInfo os;
  auto rel = view.read("/etc/os-release");
  if (!rel) rel = view.read("/usr/lib/os-release");
  if (rel) os.os_release = parse_os_release(*rel);
  else os.notes.push_back("os-release: not found");
  if (auto h = view.read("/etc/hostname")) os.hostname = trim(*h);

  for (const auto& n : view.list("/lib/modules"))
    if (view.stat("/lib/modules/" + n).kind == Stat::Kind::Dir) add_kernel(os, n);
  for (const auto& n : view.list("/boot"))
    if (starts_with(n, "vmlinuz-")) add_kernel(os, n.substr(8));
  std::sort(os.kernels.begin(), os.kernels.end());

  if (auto init = view.resolve("/sbin/init")) {
    std::string base = init->substr(init->rfind('/') + 1);
    os.init = base;
  } else if (view.stat("/usr/lib/systemd/systemd").kind == Stat::Kind::File) {
    os.init = "systemd";
  }

  // Boot loader: GRUB's config on /boot or the ESP, systemd-boot's entries, UKIs.
  std::vector<std::string> esps;
  for (const std::string e : {"/boot/efi", "/efi", "/boot"}) {
    if (view.stat(e + "/EFI").kind == Stat::Kind::Dir) esps.push_back(e);
  }
  std::vector<std::string> grub_cfgs = {"/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"};
  for (const auto& esp : esps)
    for (const auto& d : view.list(esp + "/EFI")) grub_cfgs.push_back(esp + "/EFI/" + d + "/grub.cfg");
  for (const auto& cfg : grub_cfgs) {
    auto text = view.read(cfg);
    if (!text) continue;
    auto entries = parse_grub_cfg(*text);
    if (entries.empty() && !os.bootloader.empty()) continue;
    os.bootloader = "grub";
    for (auto& e : entries) {
      e.source = cfg;
      os.boot_entries.push_back(e);
    }
    if (!entries.empty()) break;
  }
  for (const auto& esp : esps) {
    bool sdboot = false;
    for (const auto& n : view.list(esp + "/EFI/systemd"))
      sdboot = sdboot || starts_with(n, "systemd-boot");
    for (const std::string base : {esp + "/loader/entries"}) {
      for (const auto& n : view.list(base)) {
        auto text = view.read(base + "/" + n);
        if (!text) continue;
        BootEntry e = parse_loader_entry(*text);
        e.source = base + "/" + n;
        os.boot_entries.push_back(e);
        sdboot = true;
      }
    }
    for (const auto& n : view.list(esp + "/EFI/Linux")) {
      auto data = view.read(esp + "/EFI/Linux/" + n);
      if (!data) continue;
      BootEntry e;
      e.source = esp + "/EFI/Linux/" + n;
      e.title = "UKI";
      e.kernel = pe_section(*data, ".uname");
      e.cmdline = pe_section(*data, ".cmdline");
      add_kernel(os, e.kernel);
      os.boot_entries.push_back(e);
      if (!sdboot && os.bootloader.empty()) os.bootloader = "uki";
    }
    if (sdboot) os.bootloader = "systemd-boot";
  }
  for (const auto& e : os.boot_entries) {
    if (!e.cmdline.empty()) {
      os.cmdline = e.cmdline;
      break;
    }
  }
  if (os.cmdline.empty()) {
    if (auto c = view.read("/etc/kernel/cmdline")) os.cmdline = trim(*c);
  }

  if (auto status = view.read("/var/lib/dpkg/status")) {
    os.package_format = "dpkg";
    os.packages = parse_dpkg_status(*status);
  } else {
    read_rpm(view, scratch, os);
  }
  if (auto pw = view.read("/etc/passwd")) os.users = parse_passwd(*pw);
  else os.notes.push_back("users: /etc/passwd not found");
  return os;
}

}  // namespace imgrecipe::inspect
