#include "host/fs/fs_uuid.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include <fmt/format.h>

#include "host/disk/loop.hpp"
#include "host/disk/partitioner.hpp"
#include "host/disk/probe.hpp"
#include "host/system/process.hpp"
#include "host/fs/fat_stage.hpp"
#include "host/fs/mkfs.hpp"
#include "host/system/error.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/random.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe {
namespace {

std::string random_guid() {
  std::string u = random_uuid();
  u[14] = '4';
  const char variant[] = "89ab";
  u[19] = variant[std::stoi(u.substr(19, 1), nullptr, 16) & 3];
  return u;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A requested id as blkid shows it ("abcd1234" -> "ABCD-1234" for vfat).
std::string normalized_request(const std::string& type, std::string id) {
  if (type != "vfat") return id;
  if (id.size() == 9 && id[4] == '-') id.erase(4, 1);
  return id.substr(0, 4) + "-" + id.substr(4);
}

bool is_block_device(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

void write_fat_serial(const std::string& image, std::uint64_t offset, std::uint32_t serial) {
  FatInfo fi = read_fat_info(image, offset);
  // BPB volume serial: offset 39 on FAT12/16, 67 on FAT32 (also in its backup boot sector).
  const std::uint64_t field = fi.fat_bits == 32 ? 67 : 39;
  std::vector<std::uint64_t> sectors = {0};
  if (fi.fat_bits == 32 && fi.backup_boot_sector > 0 && fi.backup_boot_sector < fi.reserved_sectors) {
    sectors.push_back(fi.backup_boot_sector);
  }
  unsigned char le[4] = {static_cast<unsigned char>(serial), static_cast<unsigned char>(serial >> 8),
                         static_cast<unsigned char>(serial >> 16), static_cast<unsigned char>(serial >> 24)};
  UniqueFd fd = open_or_throw(image, O_RDWR);
  for (std::uint64_t s : sectors) {
    write_full_at(fd.get(), le, sizeof le, offset + s * fi.sector_size + field, image, "write volume ID");
  }
  if (::fsync(fd.get()) != 0) throw_errno("fsync", image);
}

}  // namespace

std::string reset_filesystem_uuid(const std::string& image, std::uint64_t offset, std::uint64_t size,
                                  const std::string& uuid) {
  const FsInfo fs = probe_filesystem(image, offset, size);
  const std::string where = offset == 0 ? image : fmt::format("{} at offset {}", image, offset);
  RunOptions ro;
  ro.env = mkfs_env();
  if (fs.type == "vfat") {
    std::string id = uuid;
    if (id.size() == 9 && id[4] == '-') id.erase(4, 1);
    std::uint32_t serial = 0;
    if (id.empty()) {
      while (serial == 0) {
        if (getrandom(&serial, sizeof serial, 0) != sizeof serial) throw_errno("getrandom", "volume ID");
      }
    } else if (id.size() == 8 && std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isxdigit(c); })) {
      serial = static_cast<std::uint32_t>(std::stoul(id, nullptr, 16));
    } else {
      throw_usage(fmt::format("vfat volume ID '{}' is not of the form ABCD-1234", uuid));
    }
    write_fat_serial(image, offset, serial);
  } else if (fs.type == "ext2" || fs.type == "ext3" || fs.type == "ext4" || fs.type == "xfs" || fs.type == "btrfs") {
    const std::string value = uuid.empty() ? random_guid() : uuid;
    if (!is_guid(value)) throw_usage(fmt::format("{} UUID '{}' is not a GUID", fs.type, uuid));
    if (fs.type.rfind("ext", 0) == 0) {
      // tune2fs wants a freshly checked filesystem before it rewrites the
      // checksums; both open IMG?offset=N themselves.
      require_tool("tune2fs", "e2fsprogs");
      const std::string spec = offset == 0 ? image : fmt::format("{}?offset={}", image, offset);
      RunResult r = run({"e2fsck", "-fy", spec}, ro);
      if (r.exit_code != 0 && r.exit_code != 1) throw command_error({"e2fsck", "-fy", spec}, r, "", false);
      run_checked({"tune2fs", "-U", value, spec}, ro);
    } else {
      if (fs.type == "xfs") require_tool("xfs_admin", "xfsprogs");
      else require_tool("btrfstune", "btrfs-progs");
      // Neither tool takes an offset: a region of a file goes through a loop device.
      std::unique_ptr<LoopDevice> loop;
      std::string dev = image;
      if (offset != 0) {
        if (size == 0) throw_usage(where + ": a region needs a size");
        loop = LoopDevice::attach(image, offset, size, false);
        dev = loop->path();
      }
      const bool file = !is_block_device(dev);
      if (fs.type == "xfs") {
        std::vector<std::string> argv = {"xfs_admin"};
        if (file) argv.push_back("-f");
        argv.insert(argv.end(), {"-U", value, dev});
        run_checked(argv, ro);
      } else {
        run_checked({"btrfstune", "-f", "-U", value, dev}, ro);
      }
      if (loop) loop->detach();
    }
  } else {
    throw_usage(fmt::format(
        "{}: cannot give a new UUID to {}", where,
        fs.type.empty() ? std::string("a partition without a filesystem") : "a " + fs.type + " filesystem"));
  }
  const std::string now = probe_filesystem(image, offset, size).uuid;
  if (uuid.empty() ? now == fs.uuid : lower(now) != lower(normalized_request(fs.type, uuid))) {
    throw Error(ErrorKind::Internal, fmt::format("{}: the {} UUID is {} after the change", where, fs.type, now));
  }
  return now;
}

}  // namespace imgrecipe
