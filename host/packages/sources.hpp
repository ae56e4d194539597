// Package sources given to a run (--rpm-source, --deb-source, Lua `sources`):
// classification, .repo files (parsing, rewriting of local URIs, the
// generated allrepos.repo) and apt source options. Pure functions.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "host/packages/manager.hpp"

namespace imgrecipe::packages {

enum class SourceKind {
  RpmDir,       // a directory of .rpm files, made into a repository
  RepoFile,     // a dnf/tdnf .repo file
  DebDir,       // a directory of .deb files, made into a flat repository
  AptList,      // an apt one-line .list file
  AptSources,   // an apt deb822 .sources file
};

// Classifies a source for `m`; throws a usage error naming the source when
// it does not fit (e.g. a .repo file for apt-get).
SourceKind classify_source(const std::string& path, bool is_dir, Manager m);

// One [section] of a .repo file, keys in file order.
struct RepoSection {
  std::string id;
  std::vector<std::pair<std::string, std::string>> keys;
  const std::string* get(const std::string& key) const;
  void set(const std::string& key, const std::string& value);
};

// INI as dnf reads it: [id] sections, key=value, # and ; comments,
// indented continuation lines appended to the previous value. Keys outside
// a section are an error (as in ALIC). `origin` names the file in errors.
std::vector<RepoSection> parse_repo_file(const std::string& text, const std::string& origin);
std::string render_repo_file(const std::vector<RepoSection>& sections);

// The repository of a local directory as it appears in the image: no GPG
// checks (such directories hold the user's own, usually unsigned, packages;
// a signed repository is given as a .repo file with gpgkey).
RepoSection local_dir_repo(const std::string& id, const std::string& dir_in_image);

// Makes the sections of a user's .repo file usable inside the image: every
// baseurl and gpgkey value that is file:// (host path) or file+rel://
// (relative to the .repo file's directory) is passed to `bind(field, host_path)`,
// which makes it visible in the image and returns its path there; the value
// becomes file://<that path>. file+chroot://P becomes file://P (a path in the
// image). Other URIs stay. Each section needs a baseurl. Returns the image
// paths of local gpg keys (to import for tdnf).
std::vector<std::string> rewrite_host_repo(std::vector<RepoSection>& sections, const std::string& repo_file,
                                           const std::function<std::string(const std::string& field,
                                                                           const std::string& host_path)>& bind);

// "NN-field-name" directory names under the reposdir, as ALIC names them.
std::string mount_name(size_t index, const std::string& field, const std::string& host_path);

// apt: the source line of a flat repository in the image (its Packages index
// beside the .debs), trusted because it is the user's own local directory.
std::string flat_repo_line(const std::string& dir_in_image);

// apt: -o options making apt read only the run's source list files, keep its
// package lists and downloads in the run's state directory (never in the
// image), and read sources as root (the build directory is not readable by
// apt's _apt sandbox user).
struct AptLayout {
  std::string source_list;   // file in the image (may be the image's own)
  std::string source_parts;  // directory in the image
  std::string state_dir;     // writable directory in the image (lists/, archives/)
};
std::vector<std::string> apt_options(const AptLayout& l);

}  // namespace imgrecipe::packages
