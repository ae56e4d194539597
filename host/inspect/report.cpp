#include "host/inspect/report.hpp"

#include <fmt/format.h>

#include "host/system/json_text.hpp"

namespace imgrecipe::inspect {
namespace {

std::string q(const std::string& s) { return "\"" + json_escape(s) + "\""; }
std::string opt(const std::optional<std::uint64_t>& v) { return v ? std::to_string(*v) : "null"; }
std::string str_or_null(const std::string& s) { return s.empty() ? "null" : q(s); }

template <typename T, typename F>
std::string array(const std::vector<T>& items, F each, const std::string& indent) {
  if (items.empty()) return "[]";
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ",\n" : "\n") + indent + "  " + each(items[i]);
  return out + "\n" + indent + "]";
}

std::string human_size(std::optional<std::uint64_t> v) {
  if (!v) return "-";
  double x = static_cast<double>(*v);
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (x >= 1024 && u < 4) {
    x /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", *v) : fmt::format("{:.1f} {}", x, units[u]);
}

}  // namespace

std::string to_json(const Report& r) {
  std::string o = "{\n";
  o += fmt::format("  \"image\": {{\"path\": {}, \"format\": {}}},\n", q(r.path), q(r.source.format));
  if (r.source.format == "iso") o += fmt::format("  \"iso\": {{\"volume_id\": {}}},\n", q(r.source.iso_volume_id));
  if (r.disk.table) {
    const auto& t = *r.disk.table;
    o += fmt::format("  \"partition_table\": {{\"type\": {}, \"id\": {}, \"sector_size\": {}, \"disk_size\": {}, \"partitions\": ",
                     q(t.type), q(t.id), t.sector_size, t.disk_size);
    o += array(t.partitions, [](const Partition& p) {
      return fmt::format("{{\"number\": {}, \"start\": {}, \"size\": {}, \"type\": {}, \"type_name\": {}, \"uuid\": {}, \"label\": {}}}",
                         p.number, p.start, p.size, q(p.type), q(p.type_name), q(p.uuid), q(p.label));
    }, "  ") + "},\n";
  } else {
    o += "  \"partition_table\": null,\n";
  }
  o += "  \"filesystems\": " + array(r.disk.filesystems, [](const FsEntry& f) {
    return fmt::format("{{\"partition\": {}, \"type\": {}, \"label\": {}, \"uuid\": {}, \"size\": {}, \"used\": {}, "
                       "\"mount_point\": {}, \"note\": {}}}",
                       f.partition ? std::to_string(f.partition) : "null", str_or_null(f.type), q(f.label), q(f.uuid),
                       opt(f.size), opt(f.used), str_or_null(f.mount_point), str_or_null(f.note));
  }, "  ") + ",\n";
  if (r.os) {
    const OsInfo& os = *r.os;
    o += "  \"os\": {\n    \"os_release\": {";
    bool first = true;
    for (const auto& [k, v] : os.os_release) {
      o += (first ? "" : ", ") + q(k) + ": " + q(v);
      first = false;
    }
    o += "},\n";
    o += fmt::format("    \"hostname\": {},\n", q(os.hostname));
    o += "    \"kernels\": " + array(os.kernels, [](const std::string& k) { return q(k); }, "    ") + ",\n";
    o += fmt::format("    \"bootloader\": {},\n", str_or_null(os.bootloader));
    o += "    \"boot_entries\": " + array(os.boot_entries, [](const BootEntry& e) {
      return fmt::format("{{\"source\": {}, \"title\": {}, \"kernel\": {}, \"cmdline\": {}}}", q(e.source), q(e.title),
                         q(e.kernel), q(e.cmdline));
    }, "    ") + ",\n";
    o += fmt::format("    \"cmdline\": {},\n", q(os.cmdline));
    o += fmt::format("    \"init\": {},\n", str_or_null(os.init));
    o += fmt::format("    \"package_format\": {},\n", str_or_null(os.package_format));
    o += "    \"packages\": " + array(os.packages, [](const Package& p) {
      return fmt::format("{{\"name\": {}, \"version\": {}, \"arch\": {}}}", q(p.name), q(p.version), q(p.arch));
    }, "    ") + ",\n";
    o += "    \"users\": " + array(os.users, [](const User& u) {
      return fmt::format("{{\"name\": {}, \"uid\": {}, \"gid\": {}, \"home\": {}, \"shell\": {}}}", q(u.name), u.uid, u.gid,
                         q(u.home), q(u.shell));
    }, "    ") + "\n  },\n";
  } else {
    o += "  \"os\": null,\n";
  }
  std::vector<std::string> notes = r.notes;
  if (r.os) notes.insert(notes.end(), r.os->notes.begin(), r.os->notes.end());
  o += "  \"notes\": " + array(notes, [](const std::string& n) { return q(n); }, "  ") + "\n}\n";
  return o;
}

std::string to_text(const Report& r) {
  std::string o = fmt::format("Image: {} ({})\n", r.path, r.source.format);
  if (r.source.format == "iso") o += fmt::format("ISO volume ID: {}\n", r.source.iso_volume_id);
  if (r.disk.table) {
    const auto& t = *r.disk.table;
    o += fmt::format("\nPartition table: {} {} ({}, {}-byte sectors)\n", t.type, t.id, human_size(t.disk_size), t.sector_size);
    for (const auto& p : t.partitions) {
      o += fmt::format("  {:>2}  start {:>12}  size {:>10}  {}{}  uuid {}{}\n", p.number, p.start, human_size(p.size),
                       p.type_name.empty() ? p.type : p.type_name, p.type_name.empty() ? "" : " (" + p.type + ")", p.uuid,
                       p.label.empty() ? "" : "  label " + p.label);
    }
  }
  o += "\nFilesystems:\n";
  for (const auto& f : r.disk.filesystems) {
    o += fmt::format("  {:<10} {:<8} uuid {:<38} label {:<14} size {:>10} used {:>10}  {}{}\n",
                     f.partition ? fmt::format("part {}", f.partition) : std::string("whole"),
                     f.type.empty() ? "-" : f.type, f.uuid.empty() ? "-" : f.uuid, f.label.empty() ? "-" : f.label,
                     human_size(f.size), human_size(f.used), f.mount_point.empty() ? "" : "on " + f.mount_point,
                     f.note.empty() ? "" : "  (" + f.note + ")");
  }
  if (r.os) {
    const OsInfo& os = *r.os;
    auto rel = [&](const char* k) {
      auto it = os.os_release.find(k);
      return it == os.os_release.end() ? std::string() : it->second;
    };
    o += "\nOS:\n";
    o += fmt::format("  name:       {}\n", rel("PRETTY_NAME").empty() ? rel("NAME") : rel("PRETTY_NAME"));
    o += fmt::format("  id:         {} {}\n", rel("ID"), rel("VERSION_ID"));
    o += fmt::format("  hostname:   {}\n", os.hostname);
    std::string kernels;
    for (const auto& k : os.kernels) kernels += (kernels.empty() ? "" : ", ") + k;
    o += fmt::format("  kernels:    {}\n", kernels);
    o += fmt::format("  bootloader: {}\n", os.bootloader.empty() ? "unknown" : os.bootloader);
    o += fmt::format("  cmdline:    {}\n", os.cmdline);
    o += fmt::format("  init:       {}\n", os.init.empty() ? "unknown" : os.init);
    for (const auto& e : os.boot_entries)
      o += fmt::format("  boot entry: {} [{}] {} {}\n", e.source, e.title, e.kernel, e.cmdline);
    o += fmt::format("\nPackages ({}, {}):\n", os.package_format.empty() ? "none found" : os.package_format,
                     os.packages.size());
    for (const auto& p : os.packages) o += fmt::format("  {} {} {}\n", p.name, p.version, p.arch);
    o += fmt::format("\nUsers ({}):\n", os.users.size());
    for (const auto& u : os.users) o += fmt::format("  {:<16} uid {:<6} gid {:<6} {} {}\n", u.name, u.uid, u.gid, u.home, u.shell);
  }
  std::vector<std::string> notes = r.notes;
  if (r.os) notes.insert(notes.end(), r.os->notes.begin(), r.os->notes.end());
  if (!notes.empty()) {
    o += "\nNotes:\n";
    for (const auto& n : notes) o += "  " + n + "\n";
  }
  return o;
}

}  // namespace imgrecipe::inspect
