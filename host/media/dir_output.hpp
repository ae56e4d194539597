// A directory output (PXE trees): built in a temporary `.<name>.tmp-XXXXXX`
// beside the destination and renamed into place only when complete, so a
// reader never sees half a tree. On error, interruption or teardown the
// temporary tree is removed; one left by a killed run (its lock free) is
// removed by the next run writing the same destination. An existing destination must be an empty
// directory (it is replaced); anything else is refused, since merging into
// it could not be atomic.
#pragma once

#include <memory>
#include <string>

#include "host/system/cleanup.hpp"
#include "host/system/owner_lock.hpp"

namespace imgrecipe {

class DirOutput {
 public:
  // Checks the destination and creates the temporary directory.
  explicit DirOutput(const std::string& out);
  ~DirOutput();
  DirOutput(const DirOutput&) = delete;
  DirOutput& operator=(const DirOutput&) = delete;

  const std::string& tmp() const { return tmp_; }
  const std::string& path() const { return out_; }
  // Makes `rel` (and its parents) inside the temporary tree; `rel` is
  // relative, without "..".
  void mkdir(const std::string& rel);
  // Gives the tree's file `rel` the permission bits `mode` (07777).
  void chmod(const std::string& rel, unsigned mode);
  // fsyncs every file of the tree, renames it to the destination and fsyncs
  // the parent directory.
  void commit();
  // Removes the temporary tree (nothing when committed).
  void discard() noexcept;

 private:
  std::string out_, tmp_;
  std::unique_ptr<OwnedTempDir> owned_;
  bool done_ = false;
  TeardownEntry entry_;
};

// Refuses `out` unless it is missing or an empty directory (usage error).
void check_dir_output(const std::string& out);

// Writes the tree `dir` as the gzip-compressed tar `out` (atomically, through
// ToolOutput), with GNU tar: entries sorted by name, numeric owners, paths
// relative to `dir` ("./boot/...").
void tar_gz_dir(const std::string& dir, const std::string& out);

}  // namespace imgrecipe
