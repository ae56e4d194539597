#include "host/fs/shrink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "host/disk/loop.hpp"
#include "host/disk/partition_edit.hpp"
#include "host/disk/partition_table.hpp"
#include "host/disk/probe.hpp"
#include "host/system/process.hpp"
#include "host/fs/mkfs.hpp"
#include "host/system/error.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/log.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe {
namespace {

// "Block count:  N" and "Block size:  N" from dumpe2fs -h.
std::uint64_t ext_bytes(const std::string& spec, const RunOptions& ro) {
  RunOptions o = ro;
  o.capture_stdout = true;
  std::istringstream in(run_checked({"dumpe2fs", "-h", spec}, o).out);
  std::uint64_t blocks = 0, block_size = 0;
  for (std::string line; std::getline(in, line);) {
    auto value = [&](const char* key) -> std::uint64_t {
      return std::stoull(line.substr(std::string(key).size()));
    };
    if (line.rfind("Block count:", 0) == 0) blocks = value("Block count:");
    else if (line.rfind("Block size:", 0) == 0) block_size = value("Block size:");
  }
  if (blocks == 0 || block_size == 0) {
    throw Error(ErrorKind::Internal, fmt::format("{}: no block count or size in dumpe2fs output", spec));
  }
  return blocks * block_size;
}

std::uint64_t le(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::uint64_t ext_filesystem_size(const std::string& disk, std::uint64_t offset) {
  // The superblock: 1024 bytes at byte 1024 of the filesystem.
  UniqueFd fd = open_or_throw(disk, O_RDONLY);
  unsigned char sb[1024];
  std::size_t n = read_some_at(fd.get(), sb, sizeof sb, offset + 1024, disk, "read the ext superblock of");
  if (n != sizeof sb || le(sb + 56, 2) != 0xef53)
    throw_usage(fmt::format("{}: no ext2/3/4 superblock at byte {}", disk, offset + 1024));
  const std::uint64_t log_block = le(sb + 24, 4);
  if (log_block > 6) throw_usage(fmt::format("{}: ext superblock at byte {} has block size 2^{}", disk, offset + 1024,
                                             10 + log_block));
  std::uint64_t blocks = le(sb + 4, 4);
  if (le(sb + 96, 4) & 0x80) blocks |= le(sb + 0x150, 4) << 32;  // INCOMPAT_64BIT: s_blocks_count_hi
  return blocks << (10 + log_block);
}

ShrinkResult shrink_ext_partition(const std::string& disk, int number) {
  PartitionTable t = read_partition_table(disk);
  auto it =
      std::find_if(t.partitions.begin(), t.partitions.end(), [&](const Partition& p) { return p.number == number; });
  if (it == t.partitions.end()) throw_usage(fmt::format("{} has no partition {}", disk, number));
  const Partition part = *it;
  const FsInfo fs = probe_filesystem(disk, part.start, part.size);
  if (fs.type != "ext2" && fs.type != "ext3" && fs.type != "ext4") {
    throw_usage(fmt::format("{} partition {}: only ext2/3/4 can be shrunk, it holds {}", disk, number,
                            fs.type.empty() ? "no filesystem" : fs.type));
  }
  require_tool("resize2fs", "e2fsprogs");
  // A loop device over the partition, not IMG?offset=N: resize2fs truncates
  // a regular file to the new filesystem size, ignoring the offset (it would
  // cut the disk image off after the filesystem's length).
  auto loop = LoopDevice::attach(disk, part.start, part.size, false);
  const std::string dev = loop->path();
  RunOptions ro;
  ro.env = mkfs_env();
  std::vector<std::string> fsck = {"e2fsck", "-fy", dev};
  RunResult r = run(fsck, ro);
  if (r.exit_code != 0 && r.exit_code != 1) throw command_error(fsck, r, "", false);  // 1: errors corrected
  run_checked({"resize2fs", "-M", dev}, ro);
  const std::uint64_t fs_bytes = ext_bytes(dev, ro);
  loop->detach();
  ShrinkResult out;
  out.old_size = part.size;
  out.new_size = (fs_bytes + t.sector_size - 1) / t.sector_size * t.sector_size;
  if (out.new_size != part.size) set_partition_size(disk, number, out.new_size);
  log::debug("shrank partition {} of {} from {} to {} bytes", number, disk, out.old_size, out.new_size);
  return out;
}

}  // namespace imgrecipe
