#include "host/packages/transaction.hpp"

#include <sys/stat.h>

#include <fmt/format.h>

#include "host/exec/chroot.hpp"
#include "host/system/process.hpp"
#include "host/packages/staging.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/workspace.hpp"

namespace imgrecipe::packages {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

bool has_executable(const RootDir& root, const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"}) {
    if (root.exists(dir + name)) return true;
  }
  return false;
}

CommandContext base_context(const RootDir& root, Manager m, const std::string& releasever) {
  CommandContext c;
  c.manager = m;
  c.dnf5 = m == Manager::Dnf && has_executable(root, "dnf5");
  c.releasever = releasever;
  return c;
}

// Truncates a log file of the image if it exists (as ALIC does for apt/dpkg
// logs, so the image does not carry the build's history).
void truncate_log(const RootDir& root, const std::string& path) {
  auto st = root.lstat(path);
  if (st && S_ISREG(st->st_mode)) root.write_file(path, "");
}

// Removes a file, symlink or whole directory of the image (a symlink is
// removed itself, never followed).
void remove_image_path(const RootDir& root, const std::string& path) {
  auto st = root.lstat(path);
  if (!st) return;
  if (S_ISDIR(st->st_mode)) {
    remove_tree_one_fs(root.resolve(path));
  } else {
    root.remove(path);
  }
  log::debug("removed {}", path);
}

}  // namespace

Manager detect_manager(const RootDir& root) {
  if (has_executable(root, "tdnf")) return Manager::Tdnf;
  if (has_executable(root, "dnf") || has_executable(root, "dnf5")) return Manager::Dnf;
  if (has_executable(root, "apt-get")) return Manager::AptGet;
  throw_unsupported("package management: the image has none of tdnf, dnf or apt-get");
}

bool needs_sources(const Request& r) { return !r.install.empty() || !r.update.empty() || r.update_existing; }

bool is_installed(const RootDir& root, Manager m, const std::string& name) {
  ChrootOptions o;
  o.output_level = log::Level::Trace;
  o.network = false;
  RunResult res = chroot_run(root, installed_query(m, name), o);
  if (res.exit_code != 0) return false;
  if (is_rpm(m)) return true;
  for (const auto& line : res.tail) {
    if (line.find(kDpkgInstalled) != std::string::npos) return true;
  }
  return false;
}

Manager run_transaction(const RootDir& root, const Request& r) {
  bool sources_needed = needs_sources(r);
  if (sources_needed && r.sources.empty() && r.disable_base_repos) {
    throw_usage(
        "have packages to install or update but no package sources were specified: the image's repositories are "
        "disabled and no --rpm-source/--deb-source (Lua: sources) was given");
  }
  Manager m = r.manager ? *r.manager : detect_manager(root);
  bool anything = sources_needed || !r.remove.empty();
  if (!anything) return m;
  log::info("package manager: {}", to_string(m));
  CommandContext c = base_context(root, m, r.releasever);
  ChrootOptions o;
  o.output_level = log::Level::Info;

  // tdnf/dnf removal needs no repositories (--disablerepo '*'); apt always
  // reads the run's lists so the image's own are never touched.
  std::optional<StagedSources> staged;
  if (sources_needed || !is_rpm(m)) {
    staged.emplace(root, m, r.sources, !r.disable_base_repos, r.work_dir);
    staged->apply(c);
    o.binds = staged->binds();
  }

  auto run = [&](const Argv& argv) { chroot_run_checked(root, argv, o); };
  if (sources_needed) {
    log::info("refreshing package metadata");
    if (m == Manager::Tdnf) {
      for (const auto& key : staged->gpg_keys()) run({"gpg", "--import", key});
    }
    Argv argv = refresh_command(c);
    RunResult res = chroot_run(root, argv, o);
    // check-update exits 100 when updates are available.
    if (res.exit_code != 0 && !(is_rpm(m) && res.exit_code == 100)) {
      throw command_error(argv, res, log::step(), false, " in the image");
    }
  }
  if (!r.remove.empty()) {
    log::info("removing packages ({}): {}", r.remove.size(), join(r.remove));
    run(remove_command(c, r.remove));
    if (auto a = autoremove_command(c)) run(*a);
  }
  if (r.update_existing) {
    log::info("updating existing packages");
    run(update_existing_command(c));
  }
  if (!r.install.empty()) {
    log::info("installing packages ({}): {}", r.install.size(), join(r.install));
    run(install_command(c, r.install));
  }
  if (!r.update.empty()) {
    log::info("updating packages ({}): {}", r.update.size(), join(r.update));
    run(update_command(c, r.update));
  }

  if (is_rpm(m)) {
    if (sources_needed) {
      log::info("cleaning the package cache");
      run(clean_command(c));
    }
  } else {
    log::info("cleaning the package cache");
    run(clean_command(c));
    for (const auto& log_file : {"/var/log/apt/history.log", "/var/log/apt/term.log", "/var/log/apt/eipp.log",
                                 "/var/log/dpkg.log"}) {
      truncate_log(root, log_file);
    }
  }
  if (staged) staged->release();
  return m;
}

std::vector<std::string> remove_package_manager(const RootDir& root, std::optional<Manager> manager) {
  Manager m = manager ? *manager : detect_manager(root);
  std::vector<std::string> installed;
  for (const auto& p : manager_packages(m)) {
    if (is_installed(root, m, p)) installed.push_back(p);
  }
  if (!installed.empty()) {
    log::info("removing the package manager: {}", join(installed));
    CommandContext c = base_context(root, m, "");
    ChrootOptions o;
    o.network = false;
    chroot_run_checked(root, remove_manager_command(c, installed), o);
  } else {
    log::info("no {} package manager packages installed", is_rpm(m) ? "RPM" : "apt");
  }
  for (const auto& dir : manager_dirs(m)) remove_image_path(root, dir);
  return installed;
}

}  // namespace imgrecipe::packages
