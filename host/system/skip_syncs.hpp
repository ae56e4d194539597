// Makes the sync family of system calls succeed without doing anything, in
// the calling process and its children (a seccomp filter). For read-only
// checkers (e2fsck -n and friends) run on a scratch working copy: they fsync
// the device when they open it, and that would write the whole working copy
// to the disk, which it never needs (its content reaches the disk only as
// the output, fsynced when that is written).
#pragma once

namespace imgrecipe {

// Call in a child after fork, before exec. Throws on failure.
void skip_syncs();

}  // namespace imgrecipe
