#include "host/fs/fat_image.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "host/fs/fat_stage.hpp"
#include "host/fs/mkfs.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/process.hpp"
#include "host/system/tool_output.hpp"

namespace imgrecipe {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1 << 20;

std::uint64_t round_up(std::uint64_t v, std::uint64_t to) { return (v + to - 1) / to * to; }

}  // namespace

std::uint64_t fat_image_size(std::uint64_t tree_bytes, std::uint64_t free_space) {
  std::uint64_t want = tree_bytes + free_space;
  want += want / 32 + kMiB;
  return round_up(std::max<std::uint64_t>(want, 2 * kMiB), kMiB);
}

std::uint64_t fat_tree_bytes(const std::string& source) {
  std::uint64_t total = 4096;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(source, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) throw_errno("stat", it->path().string());
    total += S_ISREG(st.st_mode) ? round_up(static_cast<std::uint64_t>(st.st_size), 4096) : 4096;
  }
  if (ec) throw_system("walk", source, ec.value());
  return total;
}

void make_fat_image(const std::string& source, const std::string& out, const FatImageOptions& opts) {
  struct stat st;
  if (::stat(source.c_str(), &st) != 0) throw_errno("FAT image source", source);
  if (!S_ISDIR(st.st_mode)) throw_usage(fmt::format("FAT image source {} is not a directory", source));
  if (out.find("@@") != std::string::npos) throw_usage(fmt::format("FAT image path {} must not contain '@@'", out));
  if (opts.size % 512 != 0) throw_usage(fmt::format("FAT image size {} is not a multiple of 512", opts.size));
  check_fat_storable(source);
  const std::uint64_t tree = fat_tree_bytes(source);
  const std::uint64_t size = opts.size != 0 ? opts.size : fat_image_size(tree, opts.free_space);
  MkfsOptions mo;
  mo.type = FsType::Vfat;
  mo.label = opts.label;
  mo.uuid = opts.volume_id;
  require_tool("mkfs.fat", "dosfstools");
  require_tool("mcopy", "mtools");
  require_tool("fsck.fat", "dosfstools");

  ToolOutput output(out);
  const std::string& tmp = output.tmp();
  if (::truncate(tmp.c_str(), static_cast<off_t>(size)) != 0) throw_errno("resize", tmp);
  RunOptions mk;
  mk.env = mkfs_env();
  mk.step = "mkfs.fat";
  run_checked(mkfs_command(mo, FsTarget{tmp, 0, size}, tmp), mk);

  std::vector<std::string> top;
  // Absolute: mcopy would read a relative "-name" as an option.
  for (const auto& e : fs::directory_iterator(fs::absolute(source))) top.push_back(e.path().string());
  std::sort(top.begin(), top.end());
  if (!top.empty()) {
    std::vector<std::string> argv = {"mcopy", "-s", "-m", "-i", tmp};
    argv.insert(argv.end(), top.begin(), top.end());
    argv.push_back("::/");
    RunOptions mc;
    mc.env = mtools_env();
    if (opts.timestamp) mc.env->push_back(fmt::format("SOURCE_DATE_EPOCH={}", *opts.timestamp));
    mc.step = "mcopy";
    RunResult r = run(argv, mc);
    if (r.exit_code != 0) {
      Error e = command_error(argv, r, mc.step, false);
      for (const auto& line : r.tail)
        if (line.find("Disk full") != std::string::npos)
          throw Error(ErrorKind::Usage,
                      fmt::format("{} (about {} bytes) does not fit in a FAT image of {} bytes", source, tree, size));
      throw e;
    }
  }
  RunOptions ck;
  ck.step = "fsck.fat";
  run_checked({"fsck.fat", "-n", tmp}, ck);
  log::info("made FAT image {} ({} bytes) of {}", out, size, source);
  output.commit();
}

}  // namespace imgrecipe
