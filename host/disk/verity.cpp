#include "host/disk/verity.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <libcryptsetup.h>

#include "host/disk/probe.hpp"
#include "host/fs/shrink.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe::verity {
namespace {

constexpr std::uint32_t kDigestSize = 32;  // sha256
constexpr std::uint32_t kSaltSize = 32;
constexpr std::uint64_t kMiB = 1024 * 1024;

std::uint64_t device_size(const std::string& path) {
  UniqueFd fd = open_or_throw(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) throw_errno("stat", path);
  if (S_ISREG(st.st_mode)) return static_cast<std::uint64_t>(st.st_size);
  std::uint64_t size = 0;
  if (!S_ISBLK(st.st_mode)) throw_usage(fmt::format("{}: not a block device or a regular file", path));
  if (ioctl(fd.get(), BLKGETSIZE64, &size) != 0) throw_errno("BLKGETSIZE64", path);
  return size;
}

std::string to_hex(const char* data, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(data[i]);
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

std::string from_hex(const std::string& what, const std::string& hex) {
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw_usage(fmt::format("{}: '{}' is not hexadecimal", what, hex));
  };
  if (hex.size() % 2 != 0) throw_usage(fmt::format("{}: '{}' has an odd number of hex digits", what, hex));
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  return out;
}

// libcryptsetup's messages, kept so an error can say what it said.
struct Messages {
  std::vector<std::string> lines;
};

void on_log(int level, const char* msg, void* usrptr) {
  std::string line(msg ? msg : "");
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (level == CRYPT_LOG_ERROR || level == CRYPT_LOG_NORMAL) static_cast<Messages*>(usrptr)->lines.push_back(line);
  log::debug("libcryptsetup: {}", line);
}

struct DeviceDeleter {
  void operator()(crypt_device* cd) const { crypt_free(cd); }
};

class Device {
 public:
  explicit Device(const std::string& hash) : hash_(hash) {
    crypt_device* cd = nullptr;
    int r = crypt_init(&cd, hash.c_str());
    if (r < 0) fail("open", r);
    cd_.reset(cd);
    crypt_set_log_callback(cd, on_log, &messages_);
  }
  crypt_device* get() const { return cd_.get(); }
  [[noreturn]] void fail(const std::string& op, int r) const {
    std::string tail;
    for (const auto& l : messages_.lines) tail += (tail.empty() ? "" : "; ") + l;
    Error e(ErrorKind::System,
            fmt::format("verity {} on {}: {}{}", op, hash_, std::strerror(-r), tail.empty() ? "" : " (" + tail + ")"));
    e.op = "verity " + op;
    e.target = hash_;
    e.sys_errno = -r;
    throw e;
  }
  std::string last_messages() const {
    std::string tail;
    for (const auto& l : messages_.lines) tail += (tail.empty() ? "" : "; ") + l;
    return tail;
  }

 private:
  std::string hash_;
  Messages messages_;
  std::unique_ptr<crypt_device, DeviceDeleter> cd_;
};

Info info_of(Device& dev) {
  crypt_params_verity p{};
  int r = crypt_get_verity_info(dev.get(), &p);
  if (r < 0) dev.fail("read", r);
  Info i;
  i.salt = p.salt ? to_hex(p.salt, p.salt_size) : "";
  const char* uuid = crypt_get_uuid(dev.get());
  i.uuid = uuid ? uuid : "";
  i.hash_algorithm = p.hash_name ? p.hash_name : "";
  i.hash_type = p.hash_type;
  i.data_block_size = p.data_block_size;
  i.hash_block_size = p.hash_block_size;
  i.data_blocks = p.data_size;
  i.hash_offset = p.hash_area_offset;
  i.hash_size = hash_area_size(p.data_size);
  return i;
}

void check_geometry(const std::string& data, const std::string& hash, std::uint64_t data_blocks,
                    std::uint64_t hash_offset) {
  if (hash_offset % kBlockSize != 0) {
    throw_usage(fmt::format("verity: hash offset {} is not a multiple of {}", hash_offset, kBlockSize));
  }
  const std::uint64_t need = hash_area_size(data_blocks);
  const std::uint64_t have = device_size(hash);
  if (hash_offset > have || have - hash_offset < need) {
    throw_usage(fmt::format(
        "verity: {} is too small for the hash tree: {} data blocks need {} bytes at offset {}, it has {} bytes",
        hash, data_blocks, need, hash_offset, have));
  }
  if (data == hash && hash_offset < data_blocks * kBlockSize) {
    throw_usage(fmt::format("verity: the hash area at offset {} of {} overlaps the {} bytes of data before it",
                            hash_offset, hash, data_blocks * kBlockSize));
  }
}

// A filesystem reaching past the hashed blocks would be partly unchecked
// and, inline, overwritten by the tree. Only ext2/3/4 sizes are read here.
void check_filesystem_fits(const std::string& data, std::uint64_t data_bytes) {
  FsInfo fs = probe_filesystem(data);
  if (fs.type != "ext2" && fs.type != "ext3" && fs.type != "ext4") return;
  std::uint64_t size = ext_filesystem_size(data, 0);
  if (size > data_bytes) {
    throw_usage(fmt::format("verity: the {} filesystem on {} spans {} bytes, past the {}-byte data area (make it at "
                            "most that size; for inline verity see inline_data_size)",
                            fs.type, data, size, data_bytes));
  }
}

}  // namespace

std::uint64_t hash_area_blocks(std::uint64_t data_blocks) {
  const std::uint64_t per_block = kBlockSize / kDigestSize;
  std::uint64_t total = 0;
  for (std::uint64_t level = data_blocks; level > 1;) {
    level = (level + per_block - 1) / per_block;
    total += level;
  }
  return total + 1;  // the superblock
}

std::uint64_t hash_area_size(std::uint64_t data_blocks) { return hash_area_blocks(data_blocks) * kBlockSize; }

std::uint64_t inline_data_size(std::uint64_t partition_size) {
  // Data plus hash area grows with the data blocks: the largest fitting
  // count by bisection (lo always fits).
  std::uint64_t lo = 0, hi = partition_size / kBlockSize;
  while (lo < hi) {
    std::uint64_t mid = lo + (hi - lo + 1) / 2;
    if ((mid + hash_area_blocks(mid)) * kBlockSize <= partition_size) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  std::uint64_t bytes = lo * kBlockSize / kMiB * kMiB;
  if (bytes == 0) {
    throw_usage(fmt::format("partition is too small for inline verity: {} bytes (1 MiB of data and its hash tree "
                            "need at least {} bytes)",
                            partition_size, kMiB + hash_area_size(kMiB / kBlockSize)));
  }
  return bytes;
}

Info format(const std::string& data, const std::string& hash, const FormatOptions& opts) {
  const std::uint64_t data_bytes = device_size(data);
  std::uint64_t blocks = opts.data_blocks;
  if (blocks == 0) {
    if (data == hash) throw_usage("verity: inline verity needs the number of data blocks (the data area's size)");
    blocks = data_bytes / kBlockSize;
  }
  if (blocks == 0) throw_usage(fmt::format("verity: {} has no whole {}-byte data block", data, kBlockSize));
  if (blocks > data_bytes / kBlockSize) {
    throw_usage(fmt::format("verity: {} data blocks ({} bytes) run past the end of {} ({} bytes)", blocks,
                            blocks * kBlockSize, data, data_bytes));
  }
  check_geometry(data, hash, blocks, opts.hash_offset);
  check_filesystem_fits(data, blocks * kBlockSize);
  std::string salt = opts.salt.empty() ? std::string() : from_hex("verity salt", opts.salt);
  if (salt.size() > 256) throw_usage("verity salt: at most 256 bytes");

  Device dev(hash);
  crypt_params_verity p{};
  p.hash_name = "sha256";
  p.data_device = data.c_str();
  p.salt = salt.empty() ? nullptr : salt.data();  // null: libcryptsetup draws a random salt
  p.salt_size = salt.empty() ? kSaltSize : static_cast<std::uint32_t>(salt.size());
  p.hash_type = 1;
  p.data_block_size = kBlockSize;
  p.hash_block_size = kBlockSize;
  p.data_size = blocks;
  p.hash_area_offset = opts.hash_offset;
  p.flags = CRYPT_VERITY_CREATE_HASH;
  int r = crypt_format(dev.get(), CRYPT_VERITY, nullptr, nullptr, opts.uuid.empty() ? nullptr : opts.uuid.c_str(),
                       nullptr, 0, &p);
  if (r < 0) dev.fail("format", r);
  char root[64];
  std::size_t root_size = sizeof root;
  r = crypt_volume_key_get(dev.get(), CRYPT_ANY_SLOT, root, &root_size, nullptr, 0);
  if (r < 0) dev.fail("root hash", r);
  Info i = info_of(dev);
  i.root_hash = to_hex(root, root_size);
  log::debug("verity: {} data blocks of {} hashed into {} at {}, root hash {}", blocks, data, hash, opts.hash_offset,
             i.root_hash);
  return i;
}

Info read(const std::string& data, const std::string& hash, std::uint64_t hash_offset) {
  Device dev(hash);
  crypt_params_verity p{};
  p.hash_area_offset = hash_offset;
  int r = crypt_load(dev.get(), CRYPT_VERITY, &p);
  if (r < 0) {
    Error e(ErrorKind::Usage, fmt::format("verity: no verity superblock at offset {} of {}{}", hash_offset, hash,
                                          dev.last_messages().empty() ? "" : " (" + dev.last_messages() + ")"));
    e.op = "verity read";
    e.target = hash;
    throw e;
  }
  r = crypt_set_data_device(dev.get(), data.c_str());
  if (r < 0) dev.fail("set data device " + data, r);
  return info_of(dev);
}

bool verify(const std::string& data, const std::string& hash, std::uint64_t hash_offset, const std::string& root_hash,
            std::string* why) {
  std::string root = from_hex("verity root hash", root_hash);
  if (root.size() != kDigestSize) {
    throw_usage(fmt::format("verity root hash: expected {} hex digits, got {}", kDigestSize * 2, root_hash.size()));
  }
  Info sb = read(data, hash, hash_offset);
  if (sb.data_blocks > device_size(data) / sb.data_block_size) {
    if (why) *why = fmt::format("{} is smaller than the {} data blocks the superblock names", data, sb.data_blocks);
    return false;
  }
  Device dev(hash);
  crypt_params_verity p{};
  p.hash_area_offset = hash_offset;
  // veritysetup verify's way: the check is a load flag; activating without a
  // name then walks the tree in user space and creates no device.
  p.flags = CRYPT_VERITY_CHECK_HASH;
  int r = crypt_load(dev.get(), CRYPT_VERITY, &p);
  if (r < 0) dev.fail("load", r);
  r = crypt_set_data_device(dev.get(), data.c_str());
  if (r < 0) dev.fail("set data device " + data, r);
  r = crypt_activate_by_volume_key(dev.get(), nullptr, root.data(), root.size(), 0);
  // EPERM: a data or hash block does not match; EFAULT: the root hash does not.
  if (r == -EPERM || r == -EFAULT) {
    if (why) *why = dev.last_messages().empty() ? "verification failed" : dev.last_messages();
    return false;
  }
  if (r < 0) dev.fail("verify", r);
  return true;
}

std::vector<std::string> kernel_args(const std::vector<KernelDevice>& devices, const std::string& boot_uuid) {
  std::vector<std::string> args{"rd.systemd.verity=1"};
  bool signature = false;
  for (const auto& d : devices) {
    if (d.name != "root" && d.name != "usr") {
      throw_usage(fmt::format("verity: device name '{}' has no kernel arguments (root or usr)", d.name));
    }
    std::string options;
    if (d.corruption == "io-error" || d.corruption.empty()) {
      options = "";
    } else if (d.corruption == "ignore") {
      options = "ignore-corruption";
    } else if (d.corruption == "panic") {
      options = "panic-on-corruption";
    } else if (d.corruption == "restart") {
      options = "restart-on-corruption";
    } else {
      throw_usage(fmt::format("verity: corruption option '{}' (expected io-error, ignore, panic or restart)",
                              d.corruption));
    }
    if (!d.hash_signature_path.empty()) {
      options += ",root-hash-signature=" + d.hash_signature_path;
      signature = true;
    }
    if (d.hash_offset != 0) options += fmt::format(",hash-offset={}", d.hash_offset);
    args.push_back(fmt::format("{}hash={}", d.name, d.root_hash));
    args.push_back(fmt::format("systemd.verity_{}_data={}", d.name, d.data));
    args.push_back(fmt::format("systemd.verity_{}_hash={}", d.name, d.hash));
    args.push_back(fmt::format("systemd.verity_{}_options={}", d.name, options));
  }
  if (signature) {
    if (boot_uuid.empty()) throw_usage("verity: a root hash signature needs the /boot filesystem UUID");
    args.push_back("pre.verity.mount=" + boot_uuid);
  }
  return args;
}

}  // namespace imgrecipe::verity
