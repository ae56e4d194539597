#include "host/fs/verity_existing.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>

#include <fmt/format.h>

#include "host/disk/loop.hpp"
#include "host/disk/verity.hpp"
#include "host/fs/fstab.hpp"
#include "host/system/error.hpp"

namespace imgrecipe {
namespace {

std::string unquote(std::string s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) s = s.substr(1, s.size() - 2);
  return s;
}

// The value of the last `key=` argument; nullopt-like empty `found` when absent.
bool arg_value(const std::vector<std::string>& args, const std::string& key, std::string& value) {
  bool found = false;
  for (const auto& a : args) {
    if (a.size() > key.size() && a.compare(0, key.size() + 1, key + "=") == 0) {
      value = a.substr(key.size() + 1);
      found = true;
    }
  }
  return found;
}

std::string id_type_of(const std::string& ref, const std::string& arg) {
  if (ref.rfind("PARTUUID=", 0) == 0) return "part-uuid";
  if (ref.rfind("PARTLABEL=", 0) == 0) return "part-label";
  if (ref.rfind("UUID=", 0) == 0) return "uuid";
  throw_usage(fmt::format("kernel argument {}={}: expected PARTUUID=, PARTLABEL= or UUID=", arg, ref));
}

}  // namespace

std::vector<std::string> grub_cfg_kernel_args(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string cmd;
    words >> cmd;
    if (cmd != "linux" && cmd != "linuxefi" && cmd != "linux16") continue;
    std::string kernel, w;
    words >> kernel;
    std::vector<std::string> args;
    while (words >> w) args.push_back(unquote(w));
    return args;
  }
  return {};
}

std::vector<std::string> verity_names_in_args(const std::vector<std::string>& args) {
  std::vector<std::string> names;
  const std::string prefix = "systemd.verity_";
  for (const auto& a : args) {
    if (a.rfind(prefix, 0) != 0) continue;
    size_t eq = a.find('=');
    std::string key = a.substr(prefix.size(), eq == std::string::npos ? std::string::npos : eq - prefix.size());
    const std::string suffix = "_data";
    if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    std::string name = key.substr(0, key.size() - suffix.size());
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

ExistingVerity find_existing_verity(const std::string& name, const std::vector<std::string>& args,
                                    const std::vector<DiskPartition>& parts, const std::string& image) {
  ExistingVerity v;
  v.name = name;
  const std::string base = "systemd.verity_" + name;
  auto need = [&](const std::string& key) {
    std::string value;
    if (!arg_value(args, key, value))
      throw_usage(fmt::format("dm-verity device '{}': the kernel command line has no {}= argument", name, key));
    return value;
  };
  auto partition = [&](const std::string& key, std::string& id_type) {
    std::string ref = need(key);
    id_type = id_type_of(ref, key);
    const DiskPartition* p = resolve_fstab_source(ref, parts);
    if (p == nullptr) throw_usage(fmt::format("dm-verity device '{}': {}={} matches no partition of the image", name, key, ref));
    return p;
  };
  const DiskPartition* data = partition(base + "_data", v.data_id_type);
  const DiskPartition* hash = partition(base + "_hash", v.hash_id_type);
  v.data_partition = data->part.number;
  v.hash_partition = hash->part.number;
  v.root_hash = need(name == "root" ? "roothash" : name == "usr" ? "usrhash" : name + "hash");
  std::string options;
  arg_value(args, base + "_options", options);
  std::string opt;
  std::istringstream in(options);
  while (std::getline(in, opt, ',')) {
    if (opt.empty()) continue;
    if (opt == "ignore-corruption") v.corruption = "ignore";
    else if (opt == "panic-on-corruption") v.corruption = "panic";
    else if (opt == "restart-on-corruption") v.corruption = "restart";
    else if (opt.rfind("root-hash-signature=", 0) == 0) v.hash_signature_path = opt.substr(20);
    else if (opt.rfind("hash-offset=", 0) == 0) {
      const std::string n = opt.substr(12);
      if (std::from_chars(n.data(), n.data() + n.size(), v.hash_offset).ec != std::errc())
        throw_usage(fmt::format("dm-verity device '{}': {}_options: bad hash-offset '{}'", name, base, n));
    } else {
      throw_usage(fmt::format("dm-verity device '{}': {}_options: unknown option '{}'", name, base, opt));
    }
  }
  if (v.data_partition == v.hash_partition && v.hash_offset == 0)
    throw_usage(fmt::format("dm-verity device '{}': data and hash are the same partition but {}_options has no hash-offset", name, base));
  auto data_loop = LoopDevice::attach(image, data->part.start, data->part.size, true);
  auto hash_loop = v.hash_partition == v.data_partition ? nullptr
                                                        : LoopDevice::attach(image, hash->part.start, hash->part.size, true);
  const std::string hash_dev = hash_loop ? hash_loop->path() : data_loop->path();
  verity::Info sb = verity::read(data_loop->path(), hash_dev, v.hash_offset);
  if (hash_loop) hash_loop->detach();
  data_loop->detach();
  v.data_size = sb.data_blocks * sb.data_block_size;
  v.hash_algorithm = sb.hash_algorithm;
  v.data_block_size = sb.data_block_size;
  v.hash_block_size = sb.hash_block_size;
  return v;
}

}  // namespace imgrecipe
