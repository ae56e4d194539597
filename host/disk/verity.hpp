// dm-verity hash trees made, checked and read in process with libcryptsetup
// (no device-mapper needed: nothing is activated), on partitions (block
// devices) or image files; and the kernel arguments that open them at boot
// the way ALIC writes them (alic-reference.md §4.7). Always sha256, hash
// type 1, 4096-byte data and hash blocks, as ALIC.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace imgrecipe::verity {

constexpr std::uint32_t kBlockSize = 4096;

// Blocks of the hash area for `data_blocks` data blocks: every tree level
// (32-byte sha256 digests, 128 per 4096-byte block, each level rounded up to
// whole blocks) plus the superblock. Same count as ALIC's
// CalculateHashSizeInBlocks and as veritysetup's layout.
std::uint64_t hash_area_blocks(std::uint64_t data_blocks);
// hash_area_blocks * 4096.
std::uint64_t hash_area_size(std::uint64_t data_blocks);
// Inline verity (hash tree after the data in the same partition): the bytes
// of the data area of a `partition_size` partition, ALIC's sizing: the most
// whole data blocks that leave room for their hash area, rounded down to
// 1 MiB. The hash area starts there (the hash offset). Usage error when the
// partition cannot hold 1 MiB of data and its hash area.
std::uint64_t inline_data_size(std::uint64_t partition_size);

struct FormatOptions {
  // Hex salt; empty: 32 random bytes (veritysetup's default).
  std::string salt;
  // Data blocks hashed; 0: the whole data device.
  std::uint64_t data_blocks = 0;
  // Where the superblock and hash tree start on the hash device (bytes, a
  // multiple of 4096): 0 for a hash partition, the data size for inline.
  std::uint64_t hash_offset = 0;
  // Superblock UUID; empty: random.
  std::string uuid;
};

struct Info {
  std::string root_hash;  // hex; empty from read()
  std::string salt;       // hex
  std::string uuid;
  std::string hash_algorithm;  // "sha256"
  std::uint32_t hash_type = 0;
  std::uint32_t data_block_size = 0;
  std::uint32_t hash_block_size = 0;
  std::uint64_t data_blocks = 0;
  std::uint64_t hash_offset = 0;  // bytes
  std::uint64_t hash_size = 0;    // bytes of the hash area (superblock included)
};

// Writes the superblock and hash tree of `data` (its first data_blocks
// blocks) to `hash` at hash_offset; `hash` may be `data` (inline) when the
// two areas do not overlap. Usage errors name what does not fit (the hash
// device too small, a data size past the device's end, overlapping areas).
Info format(const std::string& data, const std::string& hash, const FormatOptions& opts);

// The superblock at `hash_offset` of `hash` (no root hash: it is not stored).
// Usage error when there is no verity superblock there.
Info read(const std::string& data, const std::string& hash, std::uint64_t hash_offset);

// What `veritysetup verify` does: every data and hash block checked against
// `root_hash` in user space. False (with `why` set) when the data or the
// tree do not match; throws when the devices cannot be read.
bool verify(const std::string& data, const std::string& hash, std::uint64_t hash_offset,
            const std::string& root_hash, std::string* why = nullptr);

// One verity device on the kernel command line.
struct KernelDevice {
  std::string name;       // "root" or "usr"
  std::string root_hash;  // hex
  std::string data;       // "PARTUUID=...", "UUID=..." or "PARTLABEL=..."
  std::string hash;       // same forms
  std::string corruption = "io-error";  // io-error, ignore, panic, restart
  std::string hash_signature_path;      // optional, e.g. /boot/root.hash.sig
  std::uint64_t hash_offset = 0;        // inline verity: bytes
};

// ALIC's arguments: "rd.systemd.verity=1", then per device roothash= (usrhash=),
// systemd.verity_root_data=, _hash=, _options=<corruption>[,root-hash-signature=P]
// [,hash-offset=N] (with the default io-error the options start with a comma
// or are empty, as ALIC writes them), and pre.verity.mount=<boot_uuid> when a
// signature is used. Usage errors for other names or corruption options.
std::vector<std::string> kernel_args(const std::vector<KernelDevice>& devices, const std::string& boot_uuid = "");

}  // namespace imgrecipe::verity
