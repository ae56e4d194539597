// Tests of host primitives that need root (loop devices, BLKPG, mounts).
// Skipped (exit 77) without root. Mounts happen in a private mount
// namespace, so nothing is visible to the host.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest.h>

#include <unistd.h>

#include <cstdio>

#include "host/fs/mount.hpp"
#include "host/system/cleanup.hpp"

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "root_tests: skipped (needs root)\n");
    return 77;
  }
  imgrecipe::enter_private_mount_namespace();
  doctest::Context ctx(argc, argv);
  int rc = ctx.run();
  imgrecipe::teardown().release_all();
  return rc;
}
