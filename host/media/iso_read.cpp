#include "host/media/iso_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "host/system/cleanup.hpp"
#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/host_file.hpp"
#include "host/system/log.hpp"
#include "host/system/workspace.hpp"

namespace imgrecipe::iso {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t b = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

// "Key  : value" and "Key: value" lines of xorriso's reports (keys have no
// colon); key with trailing blanks removed.
bool report_line(const std::string& line, std::string& key, std::string& value) {
  std::size_t colon = line.find(": ");
  if (colon == std::string::npos) return false;
  key = line.substr(0, colon);
  while (!key.empty() && key.back() == ' ') key.pop_back();
  value = line.substr(colon + 2);
  while (!value.empty() && value[0] == ' ' && key != "Volume Id") value.erase(0, 1);
  return true;
}

std::uint64_t number(const std::string& s, const std::string& line) {
  try {
    std::size_t used = 0;
    std::uint64_t v = std::stoull(s, &used, 0);
    if (used != s.size()) throw std::invalid_argument(s);
    return v;
  } catch (const std::logic_error&) {
    throw Error(ErrorKind::Command, fmt::format("xorriso: unexpected report line '{}'", line));
  }
}

// xorriso prints GPT GUIDs as their 16 bytes in disk order; canonical form
// swaps the first three fields.
std::string guid_from_bytes(const std::string& hex) {
  if (hex.size() != 32) return hex;
  auto swap = [&](std::size_t at, std::size_t n) {
    std::string out;
    for (std::size_t i = n; i > 0; --i) out += hex.substr(at + (i - 1) * 2, 2);
    return out;
  };
  std::string g = swap(0, 4) + "-" + swap(8, 2) + "-" + swap(12, 2) + "-" + hex.substr(16, 4) + "-" + hex.substr(20, 12);
  std::transform(g.begin(), g.end(), g.begin(), [](unsigned char c) { return std::tolower(c); });
  return g;
}

int platform_id(const std::string& p) {
  if (p == "BIOS") return 0x00;
  if (p == "PPC") return 0x01;
  if (p == "Mac") return 0x02;
  if (p == "UEFI") return 0xef;
  if (p.starts_with("0x")) {
    try {
      return static_cast<int>(std::stoul(p, nullptr, 16));
    } catch (const std::logic_error&) {
    }
  }
  return -1;
}

void check_iso_file(const std::string& iso) {
  struct stat st;
  if (::stat(iso.c_str(), &st) != 0) throw_errno("ISO image", iso);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) throw_usage(fmt::format("ISO image {} is not a file", iso));
  require_xorriso();
}

// The ISO as -indev takes it: absolute, so a name like "mmc:x" or "-x" is a path.
std::string indev(const std::string& iso) { return fs::absolute(iso).string(); }

std::string run_report(const std::string& iso, const std::vector<std::string>& commands) {
  check_iso_file(iso);
  std::vector<std::string> argv = xorriso_argv({"-backslash_codes", "encode_output", "-abort_on", "FAILURE", "-indev",
                                                indev(iso)});
  argv.insert(argv.end(), commands.begin(), commands.end());
  RunOptions ro = xorriso_options();
  ro.capture_stdout = true;
  RunResult r = run(argv, ro);
  for (const auto& line : r.tail)
    if (line.find("No ISO 9660 image at LBA 0") != std::string::npos)
      throw_usage(fmt::format("{} is not an ISO 9660 image", iso));
  if (r.exit_code != 0) throw command_error(argv, r, ro.step, false);
  return r.out;
}

}  // namespace

void require_xorriso() {
  if (find_program("xorriso").empty())
    throw Error(ErrorKind::Unsupported, "xorriso is not installed on this host (Debian package xorriso)");
}

std::vector<std::string> xorriso_argv(std::initializer_list<std::string> args) {
  std::vector<std::string> argv = {"xorriso", "-signal_handling", "sig_dfl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

RunOptions xorriso_options() {
  RunOptions ro;
  const char* path = std::getenv("PATH");
  ro.env = std::vector<std::string>{std::string("PATH=") + (path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin"),
                                    "LC_ALL=C.UTF-8", "TZ=UTC", "HOME=/nonexistent"};  // no ~/.xorrisorc
  ro.step = "xorriso";
  return ro;
}

std::pair<std::string, std::size_t> decode_quoted(const std::string& t, std::size_t pos) {
  // Shell quoting first: '...' runs and "..." runs (xorriso writes a quote as '"'"').
  std::string raw;
  while (pos < t.size() && (t[pos] == '\'' || t[pos] == '"')) {
    char q = t[pos];
    std::size_t end = t.find(q, pos + 1);
    if (end == std::string::npos) throw Error(ErrorKind::Command, fmt::format("xorriso: unterminated name in '{}'", t));
    raw += t.substr(pos + 1, end - pos - 1);
    pos = end + 1;
  }
  return {decode_escapes(raw), pos};
}

std::string decode_escapes(const std::string& raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 >= raw.size()) {
      out += raw[i];
      continue;
    }
    char c = raw[++i];
    switch (c) {
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'e': out += '\x1b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case 'x': {
        std::size_t n = 0;
        int v = 0;
        while (n < 2 && i + 1 < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i + 1]))) {
          v = v * 16 + std::stoi(raw.substr(++i, 1), nullptr, 16);
          ++n;
        }
        out += static_cast<char>(v);
        break;
      }
      case 'c':
        if (i + 1 < raw.size()) out += static_cast<char>(std::toupper(static_cast<unsigned char>(raw[++i])) & 0x1f);
        break;
      default:
        if (c >= '0' && c <= '7') {
          int v = c - '0';
          for (int n = 0; n < 2 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7'; ++n) v = v * 8 + (raw[++i] - '0');
          out += static_cast<char>(v);
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

std::vector<Entry> parse_listing(const std::string& text) {
  std::vector<Entry> out;
  for (const auto& line : lines_of(text)) {
    // "-rw-r--r--    1 0        0               3 Nov 30 21:35 '/a/f'" ; devices: "1,3" as size.
    if (line.size() < 11 || std::string("-dlcbpse").find(line[0]) == std::string::npos) continue;
    std::size_t q = line.find('\'');
    if (q == std::string::npos) continue;
    auto w = words(line.substr(10, q - 10));
    if (w.size() < 7) throw Error(ErrorKind::Command, fmt::format("xorriso: unexpected listing line '{}'", line));
    Entry e;
    e.type = line[0] == 'e' ? '-' : line[0];  // 'e': the El Torito catalog, a plain file
    std::uint32_t mode = 0;
    for (int i = 0; i < 9; ++i)
      if (line[1 + i] != '-') mode |= 1u << (8 - i);
    if (line[3] == 's') mode |= 04000;
    if (line[3] == 'S') mode = (mode | 04000) & ~0100u;
    if (line[6] == 's') mode |= 02000;
    if (line[6] == 'S') mode = (mode | 02000) & ~0010u;
    if (line[9] == 't') mode |= 01000;
    if (line[9] == 'T') mode = (mode | 01000) & ~0001u;
    e.mode = mode;
    e.uid = static_cast<std::uint32_t>(number(w[1], line));
    e.gid = static_cast<std::uint32_t>(number(w[2], line));
    if (w[3].find(',') == std::string::npos) e.size = number(w[3], line);
    auto [name, after] = decode_quoted(line, q);
    e.path = name;
    if (e.type == 'l' && line.compare(after, 4, " -> ") == 0) e.link_target = decode_quoted(line, after + 4).first;
    out.push_back(std::move(e));
  }
  return out;
}

BootReport parse_boot_report(const std::string& text) {
  BootReport r;
  auto entry = [&](int n) -> BootEntry& {
    for (auto& e : r.entries)
      if (e.number == n) return e;
    r.entries.push_back({});
    r.entries.back().number = n;
    return r.entries.back();
  };
  auto gpt = [&](int n) -> Partition& {
    for (auto& p : r.gpt)
      if (p.number == n) return p;
    r.gpt.push_back({});
    r.gpt.back().number = n;
    return r.gpt.back();
  };
  for (const auto& line : lines_of(text)) {
    std::string key, value;
    if (!report_line(line, key, value)) continue;
    auto w = words(value);
    if (key == "Volume Id") {
      r.volume_id = decode_escapes(value);
    } else if (key == "System area summary") {
      r.system_area = value;
    } else if (key == "El Torito cat path") {
      r.catalog_path = value;
    } else if (key == "El Torito boot img" && w.size() >= 8) {
      // N Pltf B Emul Ld_seg Hdpt Ldsiz LBA
      BootEntry& e = entry(static_cast<int>(number(w[0], line)));
      e.platform = w[1];
      e.platform_id = platform_id(w[1]);
      e.bootable = w[2] == "y";
      e.emulation = w[3];
      e.load_size = static_cast<std::uint32_t>(number(w[6], line));
      e.lba = number(w[7], line);
    } else if (key == "El Torito img path" && w.size() >= 2) {
      std::size_t at = value.find(w[1], value.find(w[0]) + w[0].size());
      entry(static_cast<int>(number(w[0], line))).path = value.substr(at);
    } else if (key == "El Torito img opts" && w.size() >= 2) {
      std::size_t at = value.find(w[1], value.find(w[0]) + w[0].size());
      entry(static_cast<int>(number(w[0], line))).options = value.substr(at);
    } else if (key == "MBR partition" && w.size() >= 5) {
      // N Status Type Start Blocks
      Partition p;
      p.number = static_cast<int>(number(w[0], line));
      p.bootable = w[1] == "0x80";
      p.type = w[2];
      p.start = number(w[3], line);
      p.sectors = number(w[4], line);
      r.mbr.push_back(p);
    } else if (key == "GPT type GUID" && w.size() >= 2) {
      gpt(static_cast<int>(number(w[0], line))).type = guid_from_bytes(w[1]);
    } else if (key == "GPT partname local" && w.size() >= 2) {
      std::size_t at = value.find(w[1], value.find(w[0]) + w[0].size());
      gpt(static_cast<int>(number(w[0], line))).name = value.substr(at);
    } else if (key == "GPT start and size" && w.size() >= 3) {
      Partition& p = gpt(static_cast<int>(number(w[0], line)));
      p.start = number(w[1], line);
      p.sectors = number(w[2], line);
    }
  }
  return r;
}

std::vector<Entry> list(const std::string& iso) {
  return parse_listing(run_report(iso, {"-find", "/", "-exec", "lsdl", "--"}));
}

std::string volume_id(const std::string& iso) {
  return parse_boot_report(run_report(iso, {"-pvd_info"})).volume_id;
}

BootReport boot_report(const std::string& iso) {
  return parse_boot_report(
      run_report(iso, {"-pvd_info", "-report_el_torito", "plain", "-report_system_area", "plain"}));
}

std::string boot_options(const std::string& iso) { return run_report(iso, {"-report_el_torito", "as_mkisofs"}); }

void extract(const std::string& iso, const std::string& iso_path, const std::string& dest) {
  if (iso_path.empty() || iso_path[0] != '/') throw_usage(fmt::format("ISO path '{}' is not absolute", iso_path));
  check_iso_file(iso);
  struct stat st;
  if (::lstat(dest.c_str(), &st) == 0) throw_usage(fmt::format("ISO extract: {} already exists", dest));
  std::string parent = fs::absolute(dest).parent_path().string();
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw_usage(fmt::format("ISO extract: the directory {} of {} does not exist", parent, dest));
  fault::point("extract ISO", dest);
  struct Guard {
    std::string path;
    bool keep = false;
    ~Guard() {
      if (keep) return;
      try {
        remove_tree_one_fs(path);
      } catch (const std::exception& e) {
        log::error("removing {}: {}", path, e.what());
      }
    }
  } guard{dest};
  log::info("extracting {} of ISO {} into {}", iso_path, iso, dest);
  RunOptions ro = xorriso_options();
  const std::vector<std::string> argv = xorriso_argv({"-abort_on", "FAILURE", "-osirrox", "on", "-indev", indev(iso),
                                                      "-extract", iso_path, fs::absolute(dest).string()});
  RunResult r = run(argv, ro);
  if (r.exit_code != 0) {
    for (const auto& line : r.tail)
      if (line.find("Cannot determine attributes of (ISO) source file") != std::string::npos)
        throw_usage(fmt::format("ISO {} has no {}", iso, iso_path));
    throw command_error(argv, r, ro.step, false);
  }
  guard.keep = true;
}

std::vector<std::string> extract_boot_images(const std::string& iso, const std::string& dest) {
  check_iso_file(iso);
  struct stat st;
  if (::lstat(dest.c_str(), &st) == 0) throw_usage(fmt::format("ISO boot images: {} already exists", dest));
  fault::point("extract ISO boot images", dest);
  if (::mkdir(dest.c_str(), 0755) != 0) throw_errno("create directory", dest);
  struct Guard {
    std::string path;
    bool keep = false;
    ~Guard() {
      if (keep) return;
      try {
        remove_tree_one_fs(path);
      } catch (const std::exception& e) {
        log::error("removing {}: {}", path, e.what());
      }
    }
  } guard{dest};
  RunOptions ro = xorriso_options();
  // The trailing '/' makes xorriso write into the directory.
  run_checked(xorriso_argv({"-abort_on", "FAILURE", "-osirrox", "on", "-indev", indev(iso), "-extract_boot_images",
                            fs::absolute(dest).string() + "/"}),
              ro);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dest)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  guard.keep = true;
  return names;
}

std::string read_file(const std::string& iso, const std::string& iso_path, const std::string& work_dir,
                      std::size_t max_bytes) {
  std::string tmp_dir = (fs::path(work_dir) / "iso-read-XXXXXX").string();
  if (::mkdtemp(tmp_dir.data()) == nullptr) throw_errno("create a temporary directory in", work_dir);
  struct Remove {
    std::string path;
    ~Remove() {
      try {
        remove_tree_one_fs(path);
      } catch (const std::exception& e) {
        log::error("removing {}: {}", path, e.what());
      }
    }
  } remove{tmp_dir};
  TeardownEntry entry("remove " + tmp_dir, [tmp_dir] { remove_tree_one_fs(tmp_dir); });
  std::string f = tmp_dir + "/file";
  extract(iso, iso_path, f);
  struct stat st;
  if (::lstat(f.c_str(), &st) != 0) throw_errno("stat", f);
  if (!S_ISREG(st.st_mode)) throw_usage(fmt::format("ISO {}: {} is not a regular file", iso, iso_path));
  return read_host_file(f, "read", max_bytes);
}

}  // namespace imgrecipe::iso
