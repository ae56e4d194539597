#include "host/packages/staging.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "host/system/process.hpp"
#include "host/packages/sources.hpp"
#include "host/system/error.hpp"
#include "host/system/host_file.hpp"
#include "host/system/log.hpp"

namespace imgrecipe::packages {
namespace fs = std::filesystem;
namespace {

void write_host_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) throw_errno("write", path);
}

// Regular files of an image directory whose names end with one of
// `suffixes`, sorted; empty if the directory does not exist.
std::vector<std::string> image_dir_files(const RootDir& root, const std::string& dir,
                                         const std::vector<std::string>& suffixes) {
  std::vector<std::string> names;
  for (const auto& n : root.list_dir(dir).value_or(std::vector<std::string>{})) {
    bool match = std::any_of(suffixes.begin(), suffixes.end(),
                             [&](const std::string& s) { return n.size() > s.size() && n.ends_with(s); });
    if (!match) continue;
    auto st = root.lstat(dir + "/" + n);
    if (st && S_ISREG(st->st_mode)) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool is_host_dir(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw_errno("package source", path);
  return S_ISDIR(st.st_mode);
}

}  // namespace

StagedSources::StagedSources(const RootDir& root, Manager m, const std::vector<std::string>& sources,
                             bool use_base_repos, const std::string& work_dir)
    : manager_(m), work_dir_(work_dir) {
  fs::create_directories(work_dir_);
  if (is_rpm(m)) {
    stage_rpm(root, sources, use_base_repos);
  } else {
    stage_deb(root, sources, use_base_repos);
  }
}

StagedSources::~StagedSources() {
  try {
    release();
  } catch (const std::exception& e) {
    log::error("releasing package sources: {}", e.what());
  }
}

void StagedSources::release() {
  for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) (*it)->unmount();
  mounts_.clear();
}

void StagedSources::apply(CommandContext& c) const {
  c.reposdir = kRpmReposDir;
  c.apt_options = apt_options_;
}

// Binds a host file or directory read-only at tree/<NN-field-name> and
// returns its path in the image (under image_dir).
std::string StagedSources::bind_host_path(const std::string& field, const std::string& host_path,
                                          const std::string& tree, const std::string& image_dir) {
  struct stat st;
  if (::stat(host_path.c_str(), &st) != 0) throw_errno("package source", host_path);
  std::string name = mount_name(mounts_.size(), field, host_path);
  std::string target = tree + "/" + name;
  if (S_ISDIR(st.st_mode)) {
    fs::create_directories(target);
  } else {
    write_host_file(target, "");
  }
  mounts_.push_back(Mount::mount(host_path, target, "", "bind,ro"));
  return image_dir + "/" + name;
}

void StagedSources::stage_rpm(const RootDir& root, const std::vector<std::string>& sources, bool use_base_repos) {
  std::string tree = work_dir_ + "/rpm";
  fs::create_directories(tree);
  std::vector<RepoSection> all;
  auto add = [&](std::vector<RepoSection> secs, const std::string& origin) {
    for (auto& s : secs) {
      for (const auto& a : all) {
        if (a.id == s.id) {
          throw Error(ErrorKind::Config, fmt::format("{}: repository id '{}' is already used by another source", origin, s.id));
        }
      }
      all.push_back(std::move(s));
    }
  };
  if (use_base_repos) {
    for (const auto& name : image_dir_files(root, "/etc/yum.repos.d", {".repo"})) {
      std::string path = "/etc/yum.repos.d/" + name;
      add(parse_repo_file(root.read_file(path).value_or(""), path + " (in the image)"), path);
    }
  }
  for (const auto& src : sources) {
    switch (classify_source(src, is_host_dir(src), manager_)) {
      case SourceKind::RpmDir: {
        // createrepo_c writes repodata/ beside what it scans: scan a build-dir
        // directory holding a read-only bind of the user's directory.
        std::string name = mount_name(mounts_.size(), "baseurl", src);
        std::string repo = tree + "/" + name;
        fs::create_directories(repo + "/rpms");
        mounts_.push_back(Mount::mount(src, repo + "/rpms", "", "bind,ro"));
        run_checked({"createrepo_c", "--quiet", "--no-database", repo});
        all.push_back(local_dir_repo(name, std::string(kRpmReposDir) + "/" + name));
        log::info("package source {}: local repository, GPG checks off", src);
        break;
      }
      case SourceKind::RepoFile: {
        auto secs = parse_repo_file(read_host_file(src), src);
        auto keys = rewrite_host_repo(secs, fs::absolute(src).string(), [&](const std::string& f, const std::string& p) {
          return bind_host_path(f, p, tree, kRpmReposDir);
        });
        for (const auto& s : secs) {
          const std::string* g = s.get("gpgcheck");
          if (g && *g != "1") log::info("package source {}: GPG signature checks disabled for repository {}", src, s.id);
        }
        gpg_keys_.insert(gpg_keys_.end(), keys.begin(), keys.end());
        add(std::move(secs), src);
        break;
      }
      default: break;
    }
  }
  std::string allrepos = render_repo_file(all);
  write_host_file(tree + "/allrepos.repo", allrepos);
  log::debug("allrepos.repo:\n{}", allrepos);
  binds_.push_back({tree, kRpmReposDir, true});
}

void StagedSources::stage_deb(const RootDir& root, const std::vector<std::string>& sources, bool use_base_repos) {
  std::string tree = work_dir_ + "/deb";
  std::string parts = tree + "/sources.list.d";
  std::string state = work_dir_ + "/deb-state";
  fs::create_directories(parts);
  for (const char* d : {"/lists/partial", "/archives/partial"}) fs::create_directories(state + d);
  write_host_file(tree + "/empty.list", "");
  int n = 0;
  auto part_name = [&](const std::string& name) { return fmt::format("{}/{:02}-{}", parts, n++, name); };
  if (use_base_repos) {
    // The image's sources.list is read in place; its sources.list.d is copied,
    // because apt takes a single parts directory.
    for (const auto& name : image_dir_files(root, "/etc/apt/sources.list.d", {".list", ".sources"})) {
      write_host_file(part_name(name), root.read_file("/etc/apt/sources.list.d/" + name).value_or(""));
    }
  }
  for (const auto& src : sources) {
    switch (classify_source(src, is_host_dir(src), manager_)) {
      case SourceKind::DebDir: {
        std::string name = mount_name(mounts_.size(), "repo", src);
        std::string repo = tree + "/" + name;
        fs::create_directories(repo + "/debs");
        mounts_.push_back(Mount::mount(src, repo + "/debs", "", "bind,ro"));
        // Every version is indexed; apt picks the newest allowed.
        RunOptions ro;
        ro.cwd = repo;
        std::string index = capture({"dpkg-scanpackages", "--multiversion", "debs", "/dev/null"}, ro);
        write_host_file(repo + "/Packages", index);
        write_host_file(part_name(name + ".list"), flat_repo_line(std::string(kDebSourcesDir) + "/" + name));
        log::info("package source {}: local repository (trusted)", src);
        break;
      }
      case SourceKind::AptList:
      case SourceKind::AptSources: {
        std::string base = fs::path(src).filename().string();
        write_host_file(part_name(base), read_host_file(src));
        break;
      }
      default: break;
    }
  }
  AptLayout layout;
  layout.source_list = use_base_repos ? "/etc/apt/sources.list" : std::string(kDebSourcesDir) + "/empty.list";
  layout.source_parts = std::string(kDebSourcesDir) + "/sources.list.d";
  layout.state_dir = kDebStateDir;
  apt_options_ = apt_options(layout);
  binds_.push_back({tree, kDebSourcesDir, true});
  binds_.push_back({state, kDebStateDir, false});
}

}  // namespace imgrecipe::packages
