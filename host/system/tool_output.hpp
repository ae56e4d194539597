// An output file written by an external tool (mksquashfs, xorriso, mkfs.fat):
// the tool writes a locked temporary `.<name>.tmp-XXXXXX` beside the
// destination, which is renamed into place only when complete. On error,
// interruption or teardown nothing is left: no temporary, no directory made
// for it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "host/system/cleanup.hpp"
#include "host/system/owner_lock.hpp"

namespace imgrecipe {

class ToolOutput {
 public:
  // Creates the temporary (and out's missing directories). Refuses an `out`
  // that exists and is not a regular file.
  explicit ToolOutput(const std::string& out);
  ~ToolOutput();
  ToolOutput(const ToolOutput&) = delete;
  ToolOutput& operator=(const ToolOutput&) = delete;

  const std::string& tmp() const { return tmp_; }
  const std::string& path() const { return out_; }
  // Gives the temporary the usual mode (0666 & ~umask), fsyncs it, renames
  // it to the destination and fsyncs the directory. `durable` false: no
  // fsync, for an intermediate in the build directory that a later step
  // reads back at once (its final output is the one made durable).
  void commit(bool durable = true);

 private:
  void discard() noexcept;
  std::string out_, tmp_;
  std::filesystem::path created_;  // outermost directory made for the output
  std::unique_ptr<OwnedTempFile> owned_;
  bool done_ = false;
  TeardownEntry entry_;
};

}  // namespace imgrecipe
