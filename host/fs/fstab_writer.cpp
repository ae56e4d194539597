#include "host/fs/fstab_writer.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe {
namespace {

bool has_space(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

// fstab's escaping (as libmount unmangles it): space, tab, newline and
// backslash as octal.
std::string mangle(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\') out += fmt::format("\\{:03o}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

std::string source_of(const FstabSpec& s) {
  auto need = [&](const std::string& v, const char* what, const char* type) {
    if (v.empty())
      throw_usage(fmt::format("filesystem '{}': idType set to '{}' but the {} is not known", s.id, type, what));
    return v;
  };
  switch (s.id_type) {
    case FstabIdType::Uuid: return "UUID=" + need(s.fs_uuid, "filesystem UUID", "uuid");
    case FstabIdType::PartUuid: return "PARTUUID=" + need(s.part_uuid, "PARTUUID", "part-uuid");
    case FstabIdType::PartLabel: return "PARTLABEL=" + mangle(need(s.part_label, "partition label", "part-label"));
  }
  return "";
}

}  // namespace

FstabIdType parse_fstab_id_type(const std::string& name) {
  if (name == "part-uuid") return FstabIdType::PartUuid;
  if (name == "uuid") return FstabIdType::Uuid;
  if (name == "part-label") return FstabIdType::PartLabel;
  throw_usage(fmt::format("unknown idType '{}' (expected part-uuid, uuid or part-label)", name));
}

std::string fstab_text(const std::vector<FstabSpec>& specs) {
  struct Line {
    std::string target, source, type, options;
    int pass;
  };
  std::vector<Line> lines;
  std::set<std::string> paths;
  for (const FstabSpec& s : specs) {
    const bool swap = s.fs_type == "swap";
    const std::string type = s.fs_type == "fat32" ? "vfat" : s.fs_type;
    if (type.empty() || has_space(type)) throw_usage(fmt::format("filesystem '{}': no filesystem type", s.id));
    if (has_space(s.options))
      throw_usage(fmt::format("filesystem '{}': options '{}' contain whitespace", s.id, s.options));
    std::string target = "none";
    if (!swap) {
      const std::string& p = s.mount_point;
      if (p.empty() || p[0] != '/')
        throw_usage(fmt::format("filesystem '{}': mount path '{}' is not absolute", s.id, p));
      if (has_space(p) || p.find_first_of(":,") != std::string::npos) {
        throw_usage(fmt::format("filesystem '{}': mount path '{}' contains whitespace, ':' or ','", s.id, p));
      }
      if (!paths.insert(p).second) throw_usage(fmt::format("filesystem '{}': duplicate mount path '{}'", s.id, p));
      target = p;
    }
    std::string options = swap ? "sw" : s.options.empty() ? "defaults" : s.options;
    if (!s.btrfs_subvolume.empty()) {
      if (type != "btrfs") throw_usage(fmt::format("filesystem '{}': subvolumes are a btrfs feature", s.id));
      for (const char* bad : {"subvol=", "subvolid="}) {
        if (("," + s.options).find(std::string(",") + bad) != std::string::npos) {
          throw_usage(
              fmt::format("filesystem '{}': options must not contain {} (it is added for the subvolume)", s.id, bad));
        }
      }
      options = (s.options.empty() ? "" : s.options + ",") + "subvol=" + mangle(s.btrfs_subvolume);
    }
    int pass = swap ? 0 : target == "/" ? 1 : 2;
    lines.push_back({target, source_of(s), type, options, pass});
  }
  // ALIC writes in sorted mount-path order: parents before children.
  std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    if ((a.target == "none") != (b.target == "none")) return b.target == "none";
    return a.target < b.target;
  });
  std::string out = "# /etc/fstab: written by imgrecipe from the storage layout\n";
  for (const Line& l : lines) out += fmt::format("{} {} {} {} 0 {}\n", l.source, l.target, l.type, l.options, l.pass);
  return out;
}

}  // namespace imgrecipe
