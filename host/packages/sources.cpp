#include "host/packages/sources.hpp"

#include <fmt/format.h>

#include <sstream>

#include "host/system/error.hpp"

namespace imgrecipe::packages {
namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string basename(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string dirname(const std::string& p) {
  auto slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

bool cut_prefix(const std::string& s, const std::string& prefix, std::string& rest) {
  if (s.rfind(prefix, 0) != 0) return false;
  rest = s.substr(prefix.size());
  return true;
}

}  // namespace

SourceKind classify_source(const std::string& path, bool is_dir, Manager m) {
  bool rpm = is_rpm(m);
  if (is_dir) return rpm ? SourceKind::RpmDir : SourceKind::DebDir;
  if (rpm && path.ends_with(".repo")) return SourceKind::RepoFile;
  if (!rpm && path.ends_with(".list")) return SourceKind::AptList;
  if (!rpm && path.ends_with(".sources")) return SourceKind::AptSources;
  throw_usage(fmt::format("package source '{}': must be a directory or {} (the image uses {})", path,
                          rpm ? "a .repo file" : "an apt .list or .sources file", to_string(m)));
}

const std::string* RepoSection::get(const std::string& key) const {
  for (const auto& [k, v] : keys) {
    if (k == key) return &v;
  }
  return nullptr;
}

void RepoSection::set(const std::string& key, const std::string& value) {
  for (auto& [k, v] : keys) {
    if (k == key) {
      v = value;
      return;
    }
  }
  keys.emplace_back(key, value);
}

std::vector<RepoSection> parse_repo_file(const std::string& text, const std::string& origin) {
  std::vector<RepoSection> out;
  std::istringstream in(text);
  std::string raw;
  int lineno = 0;
  auto fail = [&](const std::string& why) {
    throw Error(ErrorKind::Config, fmt::format("{}:{}: {}", origin, lineno, why));
  };
  while (std::getline(in, raw)) {
    ++lineno;
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    bool indented = raw[0] == ' ' || raw[0] == '\t';
    if (line[0] == '[') {
      if (line.back() != ']' || line.size() < 3) fail("malformed section header");
      std::string id = trim(line.substr(1, line.size() - 2));
      for (const auto& s : out) {
        if (s.id == id) fail(fmt::format("repository '{}' defined twice", id));
      }
      out.push_back({id, {}});
      continue;
    }
    if (indented && !out.empty() && !out.back().keys.empty() && line.find('=') == std::string::npos) {
      auto& v = out.back().keys.back().second;
      v += (v.empty() ? "" : " ") + line;
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos) fail("expected key=value");
    if (out.empty()) fail("rpm repo config files must not contain keys outside a [section]");
    std::string key = trim(line.substr(0, eq));
    if (key.empty()) fail("empty key");
    out.back().set(key, trim(line.substr(eq + 1)));
  }
  return out;
}

std::string render_repo_file(const std::vector<RepoSection>& sections) {
  std::string s;
  for (const auto& sec : sections) {
    if (!s.empty()) s += "\n";
    s += "[" + sec.id + "]\n";
    for (const auto& [k, v] : sec.keys) s += k + "=" + v + "\n";
  }
  return s;
}

RepoSection local_dir_repo(const std::string& id, const std::string& dir_in_image) {
  return {id,
          {{"name", id}, {"baseurl", "file://" + dir_in_image}, {"enabled", "1"}, {"gpgcheck", "0"},
           {"repo_gpgcheck", "0"}}};
}

std::vector<std::string> rewrite_host_repo(std::vector<RepoSection>& sections, const std::string& repo_file,
                                           const std::function<std::string(const std::string&, const std::string&)>& bind) {
  std::vector<std::string> gpg_keys;
  std::string base = dirname(repo_file);
  for (auto& sec : sections) {
    if (sec.get("baseurl") == nullptr) {
      throw Error(ErrorKind::Config, fmt::format("{}: repository '{}' has no baseurl", repo_file, sec.id));
    }
    for (const char* field : {"baseurl", "gpgkey"}) {
      const std::string* value = sec.get(field);
      if (value == nullptr) continue;
      std::istringstream words(*value);
      std::string w, rest, joined;
      while (words >> w) {
        std::string now = w, in_image;
        if (cut_prefix(w, "file+chroot://", rest)) {
          now = "file://" + rest;
          in_image = rest;
        } else if (cut_prefix(w, "file+rel://", rest)) {
          in_image = bind(field, base + "/" + rest);
          now = "file://" + in_image;
        } else if (cut_prefix(w, "file://", rest)) {
          in_image = bind(field, rest);
          now = "file://" + in_image;
        }
        if (std::string(field) == "gpgkey" && !in_image.empty()) gpg_keys.push_back(in_image);
        joined += (joined.empty() ? "" : " ") + now;
      }
      sec.set(field, joined);
    }
  }
  return gpg_keys;
}

std::string mount_name(size_t index, const std::string& field, const std::string& host_path) {
  return fmt::format("{:02}-{}-{}", index, field, basename(host_path));
}

std::string flat_repo_line(const std::string& dir_in_image) {
  return "deb [trusted=yes] file:" + dir_in_image + " ./\n";
}

std::vector<std::string> apt_options(const AptLayout& l) {
  return {"Dir::Etc::SourceList=" + l.source_list,
          "Dir::Etc::SourceParts=" + l.source_parts,
          "Dir::State::Lists=" + l.state_dir + "/lists",
          "Dir::Cache::Archives=" + l.state_dir + "/archives",
          "APT::Sandbox::User=root"};
}

}  // namespace imgrecipe::packages
