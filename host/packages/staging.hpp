// Makes a run's package sources visible in the image for the commands of one
// transaction, without writing into the user's directories or leaving
// anything in the image: metadata is generated in the build directory, the
// user's directories are bind-mounted read-only into it (in imgrecipe's
// private mount namespace), and the whole tree is bound into each command's
// namespace at /_localrpms (tdnf/dnf) or /_localdebs (apt-get).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/exec/chroot.hpp"
#include "host/fs/mount.hpp"
#include "host/fs/root_dir.hpp"
#include "host/packages/manager.hpp"

namespace imgrecipe::packages {

constexpr const char* kRpmReposDir = "/_localrpms";
constexpr const char* kDebSourcesDir = "/_localdebs";
constexpr const char* kDebStateDir = "/_localdebs-state";

class StagedSources {
 public:
  // `work_dir`: an empty-or-missing host directory in the build directory.
  // With `use_base_repos`, the image's own repositories (/etc/yum.repos.d,
  // or apt's sources.list and sources.list.d) are used as well.
  StagedSources(const RootDir& root, Manager m, const std::vector<std::string>& sources, bool use_base_repos,
                const std::string& work_dir);
  ~StagedSources();
  StagedSources(const StagedSources&) = delete;
  StagedSources& operator=(const StagedSources&) = delete;

  // Binds every command of the transaction needs.
  const std::vector<BindMount>& binds() const { return binds_; }
  // Fills the source-related fields of the command context.
  void apply(CommandContext& c) const;
  // Local gpg keys of .repo files (paths in the image).
  const std::vector<std::string>& gpg_keys() const { return gpg_keys_; }
  // Unmounts the user's directories.
  void release();

 private:
  std::string bind_host_path(const std::string& field, const std::string& host_path, const std::string& tree,
                             const std::string& image_dir);
  void stage_rpm(const RootDir& root, const std::vector<std::string>& sources, bool use_base_repos);
  void stage_deb(const RootDir& root, const std::vector<std::string>& sources, bool use_base_repos);

  Manager manager_;
  std::string work_dir_;
  std::vector<std::unique_ptr<Mount>> mounts_;
  std::vector<BindMount> binds_;
  std::vector<std::string> gpg_keys_;
  std::vector<std::string> apt_options_;
};

}  // namespace imgrecipe::packages
