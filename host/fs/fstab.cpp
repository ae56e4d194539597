#include "host/fs/fstab.hpp"

#include <libmount/libmount.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool has_space(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

// Gives each parsed entry the line it came from (libmount does not say):
// entries are in file order, so each is the next content line with its target.
void number_lines(std::vector<FstabEntry>& entries, const std::string& text) {
  std::vector<std::string> lines;
  for (size_t i = 0; i <= text.size();) {
    size_t j = text.find('\n', i);
    if (j == std::string::npos) j = text.size();
    lines.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  size_t next = 0;
  for (auto& e : entries) {
    for (size_t n = next; n < lines.size(); ++n) {
      std::istringstream fields(lines[n]);
      std::string source, target;
      fields >> source >> target;
      if (source.empty() || source[0] == '#' || fstab_unescape(target) != e.target) continue;
      e.line = static_cast<int>(n + 1);
      e.text = lines[n];
      next = n + 1;
      break;
    }
  }
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
    case FstabIdType::PartLabel: return "PARTLABEL=" + need(s.part_label, "partition label", "part-label");
  }
  return "";
}

}  // namespace

std::string fstab_escape(const std::string& field) {
  std::string out;
  for (unsigned char c : field) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\') out += fmt::format("\\{:03o}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

std::string fstab_unescape(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    auto octal = [&](size_t k) { return k < field.size() && field[k] >= '0' && field[k] <= '7'; };
    if (field[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

std::vector<FstabEntry> parse_fstab(const std::string& text) {
  std::vector<FstabEntry> out;
  std::string copy = text;
  FILE* f = fmemopen(copy.data(), copy.size(), "r");
  if (f == nullptr) throw_errno("fmemopen", "fstab");
  libmnt_table* tb = mnt_new_table();
  int rc = mnt_table_parse_stream(tb, f, "fstab");
  std::fclose(f);
  if (rc != 0) {
    mnt_unref_table(tb);
    throw Error(ErrorKind::Usage, "cannot parse the image's /etc/fstab");
  }
  libmnt_iter* it = mnt_new_iter(MNT_ITER_FORWARD);
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(tb, it, &fs) == 0) {
    FstabEntry e;
    if (const char* s = mnt_fs_get_source(fs)) e.source = s;
    else if (const char* tag = nullptr, *val = nullptr; mnt_fs_get_tag(fs, &tag, &val) == 0) e.source = fmt::format("{}={}", tag, val);
    if (const char* t = mnt_fs_get_target(fs)) e.target = t;
    if (const char* t = mnt_fs_get_fstype(fs)) e.fstype = t;
    if (const char* o = mnt_fs_get_options(fs)) e.options = o;
    e.dump = mnt_fs_get_freq(fs);
    e.pass = mnt_fs_get_passno(fs);
    out.push_back(std::move(e));
  }
  mnt_free_iter(it);
  mnt_unref_table(tb);
  number_lines(out, text);
  return out;
}

std::string format_fstab(const std::vector<FstabEntry>& entries, const std::string& comment) {
  std::string out = comment.empty() ? "" : "# " + comment + "\n";
  for (const FstabEntry& e : entries) {
    if (e.source.empty() || e.target.empty())
      throw_usage(fmt::format("fstab entry '{} {}': no {}", e.source, e.target, e.source.empty() ? "source" : "target"));
    out += fmt::format("{} {} {} {} {} {}\n", fstab_escape(e.source), fstab_escape(e.target),
                       fstab_escape(e.fstype.empty() ? "auto" : e.fstype),
                       fstab_escape(e.options.empty() ? "defaults" : e.options), e.dump, e.pass);
  }
  return out;
}

const DiskPartition* resolve_fstab_source(const std::string& source, const std::vector<DiskPartition>& parts) {
  auto tag = [&](const std::string& name) -> std::optional<std::string> {
    if (source.rfind(name + "=", 0) == 0) {
      std::string v = source.substr(name.size() + 1);
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
      return v;
    }
    static const std::pair<const char*, const char*> dirs[] = {{"UUID", "/dev/disk/by-uuid/"},
                                                               {"PARTUUID", "/dev/disk/by-partuuid/"},
                                                               {"LABEL", "/dev/disk/by-label/"},
                                                               {"PARTLABEL", "/dev/disk/by-partlabel/"}};
    for (auto [n, d] : dirs) {
      if (name == n && source.rfind(d, 0) == 0) return source.substr(std::strlen(d));
    }
    return std::nullopt;
  };
  for (const auto& p : parts) {
    if (auto v = tag("UUID"); v && !p.fs.uuid.empty() && lower(*v) == lower(p.fs.uuid)) return &p;
    if (auto v = tag("PARTUUID"); v && !p.part.uuid.empty() && lower(*v) == lower(p.part.uuid)) return &p;
    if (auto v = tag("LABEL"); v && !p.fs.label.empty() && *v == p.fs.label) return &p;
    if (auto v = tag("PARTLABEL"); v && !p.part.label.empty() && *v == p.part.label) return &p;
  }
  // Kernel device names: the partition number is what identifies it here.
  static const std::regex dev(R"(^/dev/(?:[shvx]d[a-z]+|nvme\d+n\d+p|mmcblk\d+p|loop\d+p)(\d+)$)");
  std::smatch m;
  if (std::regex_match(source, m, dev)) {
    int n = 0;
    const std::string digits = m[1];
    // Too large for an int: no such partition (std::stoi would throw).
    if (std::from_chars(digits.data(), digits.data() + digits.size(), n).ec != std::errc()) return nullptr;
    for (const auto& p : parts) {
      if (p.part.number == n) return &p;
    }
  }
  return nullptr;
}

FstabIdType parse_fstab_id_type(const std::string& name) {
  if (name == "part-uuid") return FstabIdType::PartUuid;
  if (name == "uuid") return FstabIdType::Uuid;
  if (name == "part-label") return FstabIdType::PartLabel;
  throw_usage(fmt::format("unknown idType '{}' (expected part-uuid, uuid or part-label)", name));
}

std::vector<FstabEntry> fstab_entries(const std::vector<FstabSpec>& specs) {
  std::vector<FstabEntry> entries;
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
      options = (s.options.empty() ? "" : s.options + ",") + "subvol=" + s.btrfs_subvolume;
    }
    FstabEntry e;
    e.source = source_of(s);
    e.target = target;
    e.fstype = type;
    e.options = options;
    e.pass = swap ? 0 : target == "/" ? 1 : 2;
    entries.push_back(std::move(e));
  }
  // ALIC writes in sorted mount-path order: parents before children.
  std::stable_sort(entries.begin(), entries.end(), [](const FstabEntry& a, const FstabEntry& b) {
    if ((a.target == "none") != (b.target == "none")) return b.target == "none";
    return a.target < b.target;
  });
  return entries;
}

std::string fstab_text(const std::vector<FstabSpec>& specs) {
  return format_fstab(fstab_entries(specs), "/etc/fstab: written by imgrecipe from the storage layout");
}

}  // namespace imgrecipe
