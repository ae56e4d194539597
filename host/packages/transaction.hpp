// One ordered package transaction in a mounted image, as ALIC runs
// os.packages for one config: sources staged, metadata refreshed once,
// remove → update existing → install → update, caches cleaned, nothing of
// the sources left behind. Also the package manager's own removal.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "host/fs/root_dir.hpp"
#include "host/packages/manager.hpp"

namespace imgrecipe::packages {

struct Request {
  std::optional<Manager> manager;  // detected from the image when unset
  std::vector<std::string> remove;
  bool update_existing = false;
  std::vector<std::string> install;
  std::vector<std::string> update;
  std::vector<std::string> sources;  // host paths (directories, .repo, .list, .sources)
  bool disable_base_repos = false;
  std::string releasever;  // tdnf/dnf --releasever, optional
  std::string work_dir;    // build-dir directory for generated metadata
};

// tdnf, then dnf, then apt-get, by the executables present in the image.
Manager detect_manager(const RootDir& root);

// Whether the request installs or updates anything (then it needs sources).
bool needs_sources(const Request& r);

// Runs the request. Install/update with no source at all (base repositories
// disabled and none given) is a usage error, as ALIC's
// ErrNoRpmSourcesSpecified. Returns the manager used.
Manager run_transaction(const RootDir& root, const Request& r);

// os.packages.removePackageManager: removes the manager's packages that are
// installed (tdnf, dnf, dnf5, rpm; or apt, apt-utils) and its databases and
// caches. Returns the packages removed.
std::vector<std::string> remove_package_manager(const RootDir& root, std::optional<Manager> m);

// Whether a package is installed in the image.
bool is_installed(const RootDir& root, Manager m, const std::string& name);

}  // namespace imgrecipe::packages
