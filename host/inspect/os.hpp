// What an OS tree holds, read through a View (inspect): os-release, host
// name, kernels, boot loader and kernel command line, init system, packages
// (dpkg status or the rpm database) and users. The parsers are pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "host/inspect/tree.hpp"

namespace imgrecipe::inspect {

struct Package {
  std::string name, version, arch;
};
struct User {
  std::string name;
  long uid = 0, gid = 0;
  std::string home, shell;
};
struct BootEntry {
  std::string source;  // the file it came from ("/boot/grub/grub.cfg", "/boot/efi/EFI/Linux/x.efi")
  std::string title, kernel, cmdline;
};

struct OsInfo {
  std::map<std::string, std::string> os_release;
  std::string hostname;
  std::vector<std::string> kernels;     // versions: /lib/modules and /boot/vmlinuz-*
  std::string bootloader;               // "grub", "systemd-boot", "uki", "" unknown
  std::vector<BootEntry> boot_entries;  // grub menu entries, loader entries, UKIs
  std::string cmdline;                  // the default entry's, else /etc/kernel/cmdline
  std::string init;                     // "systemd", or what /sbin/init is
  std::string package_format;           // "dpkg", "rpm", "" none found
  std::vector<Package> packages;
  std::vector<User> users;
  std::vector<std::string> notes;       // what could not be read
};

std::map<std::string, std::string> parse_os_release(const std::string& text);
std::vector<User> parse_passwd(const std::string& text);
// Installed packages of a dpkg status file.
std::vector<Package> parse_dpkg_status(const std::string& text);
// `linux`/`linuxefi` lines of a grub.cfg, with their menuentry titles.
std::vector<BootEntry> parse_grub_cfg(const std::string& text);
// A systemd-boot loader entry (title, linux, options).
BootEntry parse_loader_entry(const std::string& text);
// A PE section's content by name (".cmdline", ".uname" of a UKI); "" if absent.
std::string pe_section(const std::string& pe, const std::string& name);

// `scratch`: a directory for copies the tools need (the rpm database).
OsInfo read_os(View& view, const std::string& scratch);

}  // namespace imgrecipe::inspect
