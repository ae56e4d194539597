// Package managers imgrecipe drives inside an image, and the pure functions
// that build their command lines (unit-tested without an image).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace imgrecipe::packages {

enum class Manager { Tdnf, Dnf, AptGet };

// "tdnf", "dnf", "apt-get" (also accepted: "apt").
Manager parse_manager(const std::string& name);
const char* to_string(Manager m);
bool is_rpm(Manager m);

// Where the command lines point the manager at the sources of this run.
struct CommandContext {
  Manager manager = Manager::Dnf;
  // tdnf/dnf: the directory inside the image holding the generated
  // allrepos.repo (ALIC's /_localrpms).
  std::string reposdir = "/_localrpms";
  // dnf 5 takes --setopt=cacheonly=metadata for install and update; dnf 4
  // rejects that value (its cacheonly is a boolean).
  bool dnf5 = false;
  // tdnf/dnf: --releasever, for images that do not provide one.
  std::string releasever;
  // apt-get: "-o" options ("Dir::Etc::SourceList=..."), each passed as -o X.
  std::vector<std::string> apt_options;
};

using Argv = std::vector<std::string>;

// Metadata refresh before install/update. tdnf/dnf check-update exits 100
// when updates are available: that is success.
Argv refresh_command(const CommandContext& c);
Argv remove_command(const CommandContext& c, const std::vector<std::string>& names);
// apt-get only: removes what the removal left unneeded (as ALIC does).
std::optional<Argv> autoremove_command(const CommandContext& c);
Argv update_existing_command(const CommandContext& c);
Argv install_command(const CommandContext& c, const std::vector<std::string>& names);
Argv update_command(const CommandContext& c, const std::vector<std::string>& names);
Argv clean_command(const CommandContext& c);

// Whether `name` is installed: exit code 0 means yes (rpm -q / dpkg-query).
Argv installed_query(Manager m, const std::string& name);
// Output of installed_query for apt must contain this to count as installed
// (dpkg-query also knows removed packages whose config files remain).
constexpr const char* kDpkgInstalled = "install ok installed";

// removePackageManager: the packages removed when installed, the command,
// and the directories deleted afterwards (ALIC's Azure Linux, Fedora and
// Ubuntu handlers, united so one list serves every RPM distribution).
std::vector<std::string> manager_packages(Manager m);
Argv remove_manager_command(const CommandContext& c, const std::vector<std::string>& names);
std::vector<std::string> manager_dirs(Manager m);

}  // namespace imgrecipe::packages
