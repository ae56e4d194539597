#include "host/disk/probe.hpp"

#include <blkid/blkid.h>
#include <fcntl.h>

#include "host/system/error.hpp"
#include "host/system/unique_fd.hpp"

namespace imgrecipe {

FsInfo probe_filesystem(const std::string& path, std::uint64_t offset, std::uint64_t size) {
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  blkid_probe pr = blkid_new_probe();
  if (pr == nullptr) throw_system("blkid_new_probe", path, ENOMEM);
  FsInfo info;
  if (blkid_probe_set_device(pr, fd.get(), static_cast<blkid_loff_t>(offset), static_cast<blkid_loff_t>(size)) == 0) {
    blkid_probe_enable_superblocks(pr, 1);
    blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL);
    blkid_probe_enable_partitions(pr, 0);
    if (blkid_do_safeprobe(pr) == 0) {
      const char* v = nullptr;
      if (blkid_probe_lookup_value(pr, "TYPE", &v, nullptr) == 0) info.type = v;
      if (blkid_probe_lookup_value(pr, "UUID", &v, nullptr) == 0) info.uuid = v;
      if (blkid_probe_lookup_value(pr, "LABEL", &v, nullptr) == 0) info.label = v;
    }
  }
  blkid_free_probe(pr);
  return info;
}

}  // namespace imgrecipe
