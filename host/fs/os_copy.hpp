// Copies a whole OS tree from one mounted root to another (a new disk
// layout built from an image): owners, modes, timestamps, hard links,
// symlinks, device nodes, sparse files, ACLs and xattrs (SELinux labels,
// file capabilities) all kept. This is what GNU cp's archive mode does fully
// (ALIC copies the same way, alic-reference.md §4.3), so it runs
// `cp --archive --preserve=all --sparse=always`: --preserve=all makes a lost
// xattr or ACL an error instead of a silent loss.
#pragma once

#include <string>

namespace imgrecipe {

// Copies the contents of `source_root` into `dest_root` (both existing
// directories, typically a MountMap's root), across the source's own mounts
// (its /boot, /boot/efi, /var, ...). Refused (usage error) when one root is
// inside the other, or when a kernel filesystem (proc, sysfs, devtmpfs,
// devpts, cgroup, ...) is mounted under the source: that is host content,
// not the image's. Errors name the command and its last output lines; when
// a destination filesystem (a partition device) fills up, the message first
// names its mount point in the new root (also Error::target), its size and
// free space.
void copy_os_tree(const std::string& source_root, const std::string& dest_root);

}  // namespace imgrecipe
