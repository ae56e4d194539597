#include "host/packages/manager.hpp"

#include "host/system/error.hpp"

namespace imgrecipe::packages {
namespace {

void append(Argv& a, const std::vector<std::string>& more) { a.insert(a.end(), more.begin(), more.end()); }

// tdnf/dnf: options common to every command of the run.
Argv rpm_base(const CommandContext& c) {
  Argv a{to_string(c.manager)};
  if (!c.releasever.empty()) a.push_back("--releasever=" + c.releasever);
  return a;
}

// apt-get: non-interactive, keep the image's configuration files on
// upgrades, plus the run's source options.
Argv apt_base(const CommandContext& c) {
  Argv a{"apt-get", "--yes", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"};
  for (const auto& o : c.apt_options) {
    a.push_back("-o");
    a.push_back(o);
  }
  return a;
}

// install/update/update-existing all run from the metadata fetched by the
// refresh, from the run's repositories only.
Argv rpm_cached(const CommandContext& c, const char* verb) {
  Argv a = rpm_base(c);
  append(a, {verb, "--assumeyes", "--cacheonly", "--setopt=reposdir=" + c.reposdir});
  if (c.manager == Manager::Dnf && c.dnf5) a.push_back("--setopt=cacheonly=metadata");
  return a;
}

}  // namespace

Manager parse_manager(const std::string& name) {
  if (name == "tdnf") return Manager::Tdnf;
  if (name == "dnf") return Manager::Dnf;
  if (name == "apt-get" || name == "apt") return Manager::AptGet;
  throw_usage("unknown package manager '" + name + "' (expected tdnf, dnf or apt-get)");
}

const char* to_string(Manager m) {
  switch (m) {
    case Manager::Tdnf: return "tdnf";
    case Manager::Dnf: return "dnf";
    case Manager::AptGet: return "apt-get";
  }
  return "?";
}

bool is_rpm(Manager m) { return m != Manager::AptGet; }

Argv refresh_command(const CommandContext& c) {
  if (!is_rpm(c.manager)) {
    Argv a = apt_base(c);
    a.push_back("update");
    return a;
  }
  Argv a = rpm_base(c);
  // A repository that cannot be read must fail the build, not be skipped
  // (dnf on some distributions defaults to skip_if_unavailable=True).
  append(a, {"check-update", "--refresh", "--assumeyes", "--setopt=skip_if_unavailable=False",
             "--setopt=reposdir=" + c.reposdir});
  return a;
}

Argv remove_command(const CommandContext& c, const std::vector<std::string>& names) {
  Argv a;
  if (is_rpm(c.manager)) {
    a = rpm_base(c);
    append(a, {"remove", "--assumeyes", "--disablerepo", "*"});
  } else {
    // purge, not remove: remove leaves the package in dpkg's "rc" state with
    // its conffiles in the image; rpm's erase already takes them.
    a = apt_base(c);
    a.push_back("purge");
  }
  append(a, names);
  return a;
}

std::optional<Argv> autoremove_command(const CommandContext& c) {
  if (is_rpm(c.manager)) return std::nullopt;
  Argv a = apt_base(c);
  a.push_back("autoremove");
  return a;
}

Argv update_existing_command(const CommandContext& c) {
  if (is_rpm(c.manager)) return rpm_cached(c, "update");
  Argv a = apt_base(c);
  a.push_back("upgrade");
  return a;
}

Argv install_command(const CommandContext& c, const std::vector<std::string>& names) {
  Argv a;
  if (is_rpm(c.manager)) {
    a = rpm_cached(c, "install");
  } else {
    a = apt_base(c);
    append(a, {"install", "--no-install-recommends", "--no-install-suggests"});
  }
  append(a, names);
  return a;
}

Argv update_command(const CommandContext& c, const std::vector<std::string>& names) {
  Argv a;
  if (is_rpm(c.manager)) {
    a = rpm_cached(c, "update");
  } else {
    a = apt_base(c);
    append(a, {"install", "--only-upgrade"});
  }
  append(a, names);
  return a;
}

Argv clean_command(const CommandContext& c) {
  if (is_rpm(c.manager)) {
    Argv a = rpm_base(c);
    append(a, {"clean", "all"});
    return a;
  }
  Argv a = apt_base(c);
  a.push_back("clean");
  return a;
}

Argv installed_query(Manager m, const std::string& name) {
  if (is_rpm(m)) return {"rpm", "-q", "--", name};
  return {"dpkg-query", "-W", "-f=${Status}", "--", name};
}

std::vector<std::string> manager_packages(Manager m) {
  if (is_rpm(m)) return {"tdnf", "dnf", "dnf5", "rpm"};
  // dpkg stays: it cannot be removed cleanly (as in ALIC's Ubuntu handler).
  return {"apt", "apt-utils"};
}

Argv remove_manager_command(const CommandContext& c, const std::vector<std::string>& names) {
  Argv a;
  if (is_rpm(c.manager)) {
    a = rpm_base(c);
    // The managers are protected packages: lift that for this removal.
    append(a, {"--assumeyes", "--disablerepo", "*", "--setopt=protected_packages=", "remove"});
  } else {
    a = apt_base(c);
    append(a, {"purge", "--auto-remove", "--allow-remove-essential", "--"});
  }
  append(a, names);
  return a;
}

std::vector<std::string> manager_dirs(Manager m) {
  if (is_rpm(m)) {
    return {"/var/lib/rpm",        "/var/lib/dnf",         "/usr/lib/sysimage/tdnf",
            "/usr/lib/sysimage/libdnf5", "/usr/lib/sysimage/rpm", "/var/cache/tdnf",
            "/var/cache/dnf",      "/var/cache/libdnf5",   "/var/cache/dnf5daemon-server"};
  }
  return {"/var/lib/apt", "/var/cache/apt"};
}

}  // namespace imgrecipe::packages
