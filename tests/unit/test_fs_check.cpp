#include <doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "host/system/process.hpp"
#include "host/fs/os_mount.hpp"
#include "host/system/error.hpp"

using namespace imgrecipe;

namespace {

struct TempExt4 {
  std::string dir, image;
  TempExt4() {
    char tmpl[] = "/tmp/imgrecipe-unit-fsck.XXXXXX";
    dir = ::mkdtemp(tmpl);
    image = dir + "/fs.img";
    run_checked({"truncate", "-s", "8M", image});
    run_checked({"/sbin/mkfs.ext4", "-q", "-F", image});  // a user's PATH may lack sbin
  }
  ~TempExt4() { std::filesystem::remove_all(dir); }
};

}  // namespace

TEST_CASE("check_unmounted_filesystem passes a clean ext4 and names a damaged one") {
  TempExt4 fs;
  CHECK_NOTHROW(check_unmounted_filesystem(fs.image, "ext4", "partition 2 (ext4, mounted at /)"));
  // The root directory's link count made wrong: e2fsck -fn reports it and exits 4.
  run_checked({"/sbin/debugfs", "-w", "-R", "set_inode_field <2> links_count 7", fs.image});
  try {
    check_unmounted_filesystem(fs.image, "ext4", "partition 2 (ext4, mounted at /)");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Command);
    CHECK(std::string(e.what()).starts_with("partition 2 (ext4, mounted at /) is damaged: its read-only check"));
    CHECK(e.exit_code == 4);
    CHECK(!e.output_tail.empty());
  }
  // Types without a checker pass (FAT is checked by the write-back itself).
  CHECK_NOTHROW(check_unmounted_filesystem(fs.image, "vfat", "partition 1"));
}
