// Recursive copy of a host directory into the image (ALIC's additionalDirs).
// Every destination path is resolved inside the image root, so symlinks in
// the image never lead outside it; files are streamed and keep their holes.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "host/fs/root_dir.hpp"

namespace imgrecipe {

struct CopyTreeOptions {
  mode_t new_dir_mode = 0755;              // directories that get created
  std::optional<mode_t> merged_dir_mode;   // directories that already exist (unset: kept)
  mode_t file_mode = 0755;                 // every copied file
};

struct CopyTreeStats {
  size_t files = 0;
  size_t dirs_created = 0;
  size_t dirs_merged = 0;
};

// Copies the contents of `host_source` into `image_dest` (created with its
// missing parents if needed). Source symlinks are followed, as ALIC does; a
// source entry that is neither a file nor a directory is an error.
CopyTreeStats copy_tree(const RootDir& root, const std::string& host_source, std::string_view image_dest,
                        const CopyTreeOptions& opts = {});

// Copies `size` bytes of `src` into the empty file `dst`, skipping holes
// (SEEK_DATA/SEEK_HOLE), without reading the file into memory. `what` names
// the copy in errors.
void copy_file_sparse(int src, int dst, off_t size, const std::string& what);

}  // namespace imgrecipe
