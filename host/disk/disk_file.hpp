// A new, blank disk image file: sparse, of an exact size, removed again if
// the build that makes it fails; or an existing disk file (an image's working
// copy), which is never removed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "host/system/cleanup.hpp"

namespace imgrecipe {

class DiskFile {
 public:
  // Creates `path` as a sparse file of `size` bytes (a positive multiple of
  // 512). An existing path is refused (ErrorKind::Usage) unless `overwrite`,
  // and even then only a regular file is replaced (never a device, directory
  // or symlink). The file is on the teardown stack: it is removed when this
  // object goes away (error, interruption) unless keep() was called.
  static std::unique_ptr<DiskFile> create(const std::string& path, std::uint64_t size, bool overwrite = false);
  // An existing regular file (not a symlink or device) whose size is a
  // positive multiple of 512, kept in place: the caller owns its lifetime.
  static std::unique_ptr<DiskFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  // The disk is finished: leave the file in place.
  void keep() { remove_.keep(); }

 private:
  DiskFile(std::string path, std::uint64_t size) : path_(std::move(path)), size_(size), remove_(path_) {}
  std::string path_;
  std::uint64_t size_;
  RemoveUnlessKept remove_;
};

}  // namespace imgrecipe
