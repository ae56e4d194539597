// COSI output (alic-reference.md §3.1, as ALIC 1.7 writes it): an
// uncompressed tar holding an empty `cosi-marker`, `metadata.json`, the
// primary GPT region (LBA 0 through the partition entry array) and one image
// per partition, each a zstd frame preceded by a skippable frame with the
// 16-byte image UUID. Plain C++: the caller gathers what describes the OS
// (os-release, packages, boot loader, mount points) and passes it in.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "host/fs/shrink.hpp"
#include "host/image/zstd_stream.hpp"

namespace imgrecipe::cosi {

struct OsPackage {
  std::string name, version, release, arch;
};

struct BootEntry {  // systemd-boot entry
  std::string type;  // uki-standalone, uki-config or config
  std::string path, cmdline, kernel;
};

struct Bootloader {
  std::string type;  // "grub" or "systemd-boot"
  std::vector<BootEntry> entries;  // systemd-boot only
};

// What the caller knows about the OS in the disk.
struct Inputs {
  std::string os_arch;     // "x86_64" or "arm64"
  std::string os_release;  // /etc/os-release verbatim
  std::string image_uuid;  // 8-4-4-4-12 hex (ALIC's IMAGE_UUID); empty: a new random one
  Bootloader bootloader;
  std::vector<OsPackage> packages;
  std::map<int, std::string> mount_points;  // partition number -> mount path in the OS
  // dm-verity devices by data partition number: the data filesystem's entry
  // carries the `verity` object and the hash partition is not listed as a
  // filesystem (alic-reference §3.1).
  struct Verity {
    int hash_partition = 0;  // == the data partition: inline
    std::string root_hash;   // hex
    std::uint64_t hash_offset = 0;  // bytes; inline only (ALIC's hashOffset, omitted when 0)
  };
  std::map<int, Verity> verity;
};

struct Options {
  zstd::Options zstd;         // level 9, --long=27, all CPUs
  std::string work_dir;       // compressed images before they go into the tar (default: beside `out`)
  bool check_filesystems = true;  // read-only fsck of each partition first (root: loop devices)
  // ALIC's baremetal-image: the tar padded with zeros to a whole MiB, then a
  // fixed-VHD footer (host/image/vhd_footer) appended, so the file is at once
  // a COSI tar and a fixed VHD of the padded size. Done in place, before the
  // fsync and rename: no second copy of the tar.
  bool vhd_footer = false;
};

// metadata.json's model, in ALIC's field order.
struct ImageFile {
  std::string path;
  std::uint64_t compressed_size = 0, uncompressed_size = 0;
  std::string sha384;
};
struct Region {
  ImageFile image;
  std::string type;  // "primary-gpt" or "partition"
  int number = 0;    // partition number; 0 for the GPT region (no "number" field)
};
struct VerityImage {
  ImageFile image;  // the hash partition's (inline: the data partition's own)
  std::string root_hash;
  std::uint64_t hash_offset = 0;  // written as hashOffset when not 0
};
struct Filesystem {
  ImageFile image;
  std::string mount_point, fs_type, fs_uuid, part_type;
  std::optional<VerityImage> verity;  // null when absent
};
struct Metadata {
  std::string version = "1.2";
  std::string os_arch;
  std::uint64_t disk_size = 0;
  std::uint64_t lba_size = 512;
  std::vector<Region> regions;
  std::vector<Filesystem> images;
  std::string os_release;
  std::string id;
  Bootloader bootloader;
  std::vector<OsPackage> packages;
  int max_window_log = 27;
};

// metadata.json text, formatted as Go's json.MarshalIndent(v, "", "  ")
// (ALIC's encoder, HTML characters escaped as \u003c etc.).
std::string metadata_json(const Metadata& m);
// One JSON string literal with Go's escaping.
std::string json_string(const std::string& s);

// Bytes of the primary GPT region: LBA 0 through the end of the partition
// entry array, from the GPT header at LBA 1. Throws unless `disk` is GPT.
std::uint64_t primary_gpt_bytes(const std::string& disk, std::uint64_t sector_size);

// Shrinks every ext2/3/4 filesystem of `disk` and its partition to the
// minimum (host/fs/shrink; root needed), as ALIC does before COSI output.
struct Shrunk {
  int number = 0;
  ShrinkResult result;
};
// With `only_filling`, only filesystems whose size is exactly their
// partition's (ALIC's convert: an image made elsewhere may leave a gap on
// purpose); the others are logged and kept.
// Partitions in `skip` are left as they are (dm-verity data and hash
// partitions: their hash tree covers the filesystem as it is).
std::vector<Shrunk> shrink_ext_filesystems(const std::string& disk, bool only_filling = false,
                                           const std::set<int>& skip = {});

// Writes the COSI file `out` from the GPT disk image `disk` (never
// modified), atomically: a temporary file beside `out`, fsynced and renamed
// only when complete; nothing is left on error or interruption. Returns the
// metadata written. With `opts.vhd_footer` the file is a baremetal-image.
Metadata write(const std::string& disk, const std::string& out, const Inputs& in, const Options& opts);

}  // namespace imgrecipe::cosi
