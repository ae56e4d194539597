// A disk image file attached as a whole-disk block device with its
// partitions, for tools that need one (grub-install, grub-mkconfig, sfdisk).
// The kernel's partition scan of loop devices cannot be relied on (it is off
// or produces no nodes in containers and minimal kernels) and udev may not
// run, so the partitions are added one by one with BLKPG_ADD_PARTITION and
// their /dev/loopNpM nodes made with mknod when devtmpfs does not make them.
// Releasing deletes the partitions (BLKPG_DEL_PARTITION; a loop device keeps
// them after detaching otherwise), removes the nodes it made and detaches.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/disk/loop.hpp"
#include "host/disk/partition_table.hpp"
#include "host/system/cleanup.hpp"

namespace imgrecipe {

class WholeDisk {
 public:
  // Attaches `file` and adds every partition of its table (GPT or MBR).
  static std::unique_ptr<WholeDisk> attach(const std::string& file, bool read_only);
  ~WholeDisk();
  WholeDisk(const WholeDisk&) = delete;
  WholeDisk& operator=(const WholeDisk&) = delete;

  // /dev/loopN
  const std::string& device() const { return loop_->path(); }
  // /dev/loopNpM for partition number M (1-based); usage error if the table
  // has no such partition.
  std::string partition_device(int number) const;
  // Partition `number` as a read-only loop device of its own (offset and
  // size in the backing file), after this device's cached writes reach the
  // file. Reading a partition through its own device is steadier than
  // through the whole-disk device while that device is also being written
  // (a verity hash tree read its 1 GiB data partition in 1.8 s this way,
  // 2.5-4.2 s through loopNpM with the hash partition written beside it).
  std::unique_ptr<LoopDevice> read_only_view(int number) const;
  const PartitionTable& table() const { return table_; }

  // Deletes the partitions, removes the nodes made here, detaches. Throws if
  // a partition is still in use (mounted or open) and stays on the teardown
  // stack, which retries at the end of the run. Idempotent.
  void release();

  struct State;

 private:
  WholeDisk() = default;
  std::unique_ptr<LoopDevice> loop_;
  PartitionTable table_;
  // Shared with the teardown entry, which may outlive this object when a
  // release failed.
  std::shared_ptr<State> state_;
  Teardown::Id entry_ = 0;
};

}  // namespace imgrecipe
