#include "host/fs/squashfs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/log.hpp"
#include "host/system/process.hpp"
#include "host/system/tool_output.hpp"
#include "host/system/unique_fd.hpp"
#include "host/system/workspace.hpp"

namespace imgrecipe::squashfs {
namespace {

namespace fs = std::filesystem;

void require(const std::string& tool) {
  if (find_program(tool).empty())
    throw Error(ErrorKind::Unsupported,
                fmt::format("{} is not installed on this host (Debian package squashfs-tools)", tool));
}

// Dates in listings in UTC, messages in English.
RunOptions tool_opts() {
  RunOptions o;
  const char* path = std::getenv("PATH");
  o.env = std::vector<std::string>{std::string("PATH=") + (path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin"),
                                   "LC_ALL=C", "TZ=UTC"};
  return o;
}

const std::set<std::string>& compressors() {
  static const std::set<std::string> s = {"gzip", "lzo", "lz4", "xz", "zstd"};
  return s;
}

std::string relative_pattern(const std::string& p) {
  std::size_t i = 0;
  while (i < p.size() && p[i] == '/') ++i;
  return p.substr(i);
}

// squashfs-tools read a leading '-' as an option.
std::string absolute(const std::string& p) { return fs::absolute(p).string(); }

// "/a/b" (or "a/b") as unsquashfs names it: relative, no trailing '/'.
std::string image_relative(const std::string& p) {
  std::string r = relative_pattern(p);
  while (!r.empty() && r.back() == '/') r.pop_back();
  return r;
}

}  // namespace

std::vector<std::string> exclude_patterns(const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  for (const auto& p : patterns) {
    if (p.find('\n') != std::string::npos) throw_usage("a squashfs exclusion contains a newline");
    std::string r = relative_pattern(p);
    if (r.empty()) throw_usage(fmt::format("squashfs exclusion '{}' names no path below the root", p));
    out.push_back(r);
  }
  return out;
}

std::vector<std::string> create_command(const std::string& source, const std::string& out, const CreateOptions& o) {
  if (compressors().count(o.compression) == 0)
    throw_usage(fmt::format("squashfs compression '{}' is not one of gzip, lzo, lz4, xz, zstd", o.compression));
  std::vector<std::string> a = {"mksquashfs", source, out, "-noappend", "-comp", o.compression, "-exit-on-error",
                                "-no-progress", "-quiet"};
  if (o.level != 0) {
    int hi = o.compression == "zstd" ? 22 : o.compression == "gzip" ? 9 : o.compression == "lzo" ? 9 : 0;
    if (hi == 0)
      throw_usage(fmt::format("squashfs compression '{}' takes no level (only gzip, lzo, zstd do)", o.compression));
    if (o.level < 1 || o.level > hi)
      throw_usage(fmt::format("squashfs {} level {} is outside 1..{}", o.compression, o.level, hi));
    a.insert(a.end(), {"-Xcompression-level", std::to_string(o.level)});
  }
  if (o.block_size != 0) {
    if (o.block_size < 4096 || o.block_size > (1u << 20) || (o.block_size & (o.block_size - 1)) != 0)
      throw_usage(fmt::format("squashfs block size {} is not a power of two from 4096 to 1048576", o.block_size));
    a.insert(a.end(), {"-b", std::to_string(o.block_size)});
  }
  a.push_back(o.xattrs ? "-xattrs" : "-no-xattrs");
  if (o.timestamp) {
    if (*o.timestamp < 0 || *o.timestamp > 0xFFFFFFFFll)
      throw_usage(fmt::format("squashfs timestamp {} is outside 0..4294967295 (32-bit seconds)", *o.timestamp));
    std::string t = std::to_string(*o.timestamp);
    a.insert(a.end(), {"-mkfs-time", t, "-all-time", t});
  }
  if (o.processors < 0) throw_usage(fmt::format("squashfs processors {} is negative", o.processors));
  if (o.processors > 0) a.insert(a.end(), {"-processors", std::to_string(o.processors)});
  if (o.one_file_system) a.push_back("-one-file-system");
  if (o.all_root) a.push_back("-all-root");
  // -e takes every argument after it: last.
  if (!o.exclude.empty()) {
    a.insert(a.end(), {"-wildcards", "-e"});
    for (const auto& p : exclude_patterns(o.exclude)) a.push_back(p);
  }
  return a;
}

void create(const std::string& source, const std::string& out, const CreateOptions& opts) {
  struct stat st;
  if (::stat(source.c_str(), &st) != 0) throw_errno("squashfs source", source);
  if (!S_ISDIR(st.st_mode)) throw_usage(fmt::format("squashfs source {} is not a directory", source));
  create_command(source, out, opts);  // argument errors before anything is created
  require("mksquashfs");
  ToolOutput output(out);
  log::info("making squashfs {} of {} ({})", out, source, opts.compression);
  RunOptions ro = tool_opts();
  ro.step = "mksquashfs";
  run_checked(create_command(absolute(source), output.tmp(), opts), ro);
  output.commit(opts.durable);
}

std::vector<Entry> parse_listing(const std::string& text) {
  std::vector<Entry> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    // "drwxr-xr-x 0/0   48 1970-01-12 13:46 /a" ; devices show "1,  3" as the size.
    if (line.size() < 10 || std::string("-dlcbps").find(line[0]) == std::string::npos) continue;
    Entry e;
    e.type = line[0];
    std::uint32_t mode = 0;
    for (int i = 0; i < 9; ++i)
      if (line[1 + i] != '-') mode |= 1u << (8 - i);
    auto special = [&](int idx, char lower, char upper, std::uint32_t bit, std::uint32_t exec) {
      char c = line[1 + idx];
      if (c == lower) mode |= bit;
      if (c == upper) mode = (mode | bit) & ~exec;
    };
    special(2, 's', 'S', 04000, 0100);
    special(5, 's', 'S', 02000, 0010);
    special(8, 't', 'T', 01000, 0001);
    e.mode = mode;
    std::size_t pos = 10;
    auto skip_spaces = [&] {
      while (pos < line.size() && line[pos] == ' ') ++pos;
    };
    auto word = [&] {
      skip_spaces();
      std::size_t b = pos;
      while (pos < line.size() && line[pos] != ' ') ++pos;
      return line.substr(b, pos - b);
    };
    std::string owner = word();
    std::size_t slash = owner.find('/');
    if (slash == std::string::npos) throw Error(ErrorKind::Command, fmt::format("unsquashfs: unexpected listing line '{}'", line));
    try {
      e.uid = static_cast<std::uint32_t>(std::stoul(owner.substr(0, slash)));
      e.gid = static_cast<std::uint32_t>(std::stoul(owner.substr(slash + 1)));
      std::string size = word();
      if (size.empty()) throw std::invalid_argument("no size");
      if (size.back() == ',') word();  // "1,  3": major, minor
      else e.size = std::stoull(size);
    } catch (const std::logic_error&) {
      throw Error(ErrorKind::Command, fmt::format("unsquashfs: unexpected listing line '{}'", line));
    }
    std::string date = word();
    std::string time = word();
    e.mtime = date + " " + time;
    // One space, then the path ("" for the root).
    std::string name = pos < line.size() ? line.substr(pos + 1) : "";
    if (e.type == 'l') {
      std::size_t arrow = name.find(" -> ");
      if (arrow != std::string::npos) {
        e.link_target = name.substr(arrow + 4);
        name = name.substr(0, arrow);
      }
    }
    e.path = name.empty() ? "/" : name;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<Entry> list(const std::string& image) {
  require("unsquashfs");
  struct stat st;
  if (::stat(image.c_str(), &st) != 0) throw_errno("squashfs image", image);
  RunOptions ro = tool_opts();
  ro.capture_stdout = true;
  ro.step = "unsquashfs";
  return parse_listing(capture({"unsquashfs", "-lln", "-d", "", absolute(image)}, ro));
}

std::vector<std::string> extract_command(const std::string& image, const std::string& dest, const ExtractOptions& o) {
  if (o.processors < 0) throw_usage(fmt::format("squashfs processors {} is negative", o.processors));
  std::vector<std::string> a = {"unsquashfs", "-no-progress", o.xattrs ? "-xattrs" : "-no-xattrs", "-d", dest};
  if (o.processors > 0) a.insert(a.end(), {"-processors", std::to_string(o.processors)});
  a.push_back(image);
  for (const auto& p : o.paths) {
    std::string r = image_relative(p);
    if (r.empty()) throw_usage("squashfs extract: an empty path (leave `paths` out to extract everything)");
    a.push_back(r);
  }
  return a;
}

void extract(const std::string& image, const std::string& dest, const ExtractOptions& opts) {
  auto argv = extract_command(absolute(image), absolute(dest), opts);
  require("unsquashfs");
  struct stat st;
  if (::stat(image.c_str(), &st) != 0) throw_errno("squashfs image", image);
  if (::lstat(dest.c_str(), &st) == 0) throw_usage(fmt::format("squashfs extract: {} already exists", dest));
  if (!opts.paths.empty()) {
    // unsquashfs silently extracts nothing for a path it lacks.
    std::set<std::string> have;
    for (const auto& e : list(image)) have.insert(e.path);
    for (const auto& p : opts.paths)
      if (have.count("/" + image_relative(p)) == 0)
        throw_usage(fmt::format("squashfs extract: {} has no {}", image, p));
  }
  fault::point("extract squashfs", dest);
  // unsquashfs makes `dest` itself; it is ours from here on.
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
  TeardownEntry entry("remove partial extraction " + dest, [&guard] { remove_tree_one_fs(guard.path); });
  log::info("extracting squashfs {} into {}", image, dest);
  RunOptions ro = tool_opts();
  ro.step = "unsquashfs";
  run_checked(argv, ro);
  guard.keep = true;
  entry.dismiss();
}

}  // namespace imgrecipe::squashfs
