#include <doctest.h>

#include <sys/stat.h>

#include <filesystem>

#include "host/system/owner_lock.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using imgrecipe::test::TempDir;
using imgrecipe::test::write_file;
namespace fs = std::filesystem;

TEST_CASE("an owner lock excludes every other holder until released") {
  TempDir d;
  auto a = OwnerLock::try_lock(d / "x.lock", true);
  REQUIRE(a);
  // flock locks belong to the open file description: a second open, even in
  // this process, is another holder.
  CHECK_FALSE(OwnerLock::try_lock(d / "x.lock", true));
  a.reset();
  CHECK(OwnerLock::try_lock(d / "x.lock", true));
  CHECK_FALSE(OwnerLock::try_lock(d / "missing.lock", false));
}

TEST_CASE("stale run directories go, live and kept ones stay") {
  TempDir d;
  write_file(d / "run-1/image-1/image.raw", "stale");
  write_file(d / "run-1.lock", "");
  write_file(d / "run-2/image-1/image.raw", "live");
  auto live = OwnerLock::try_lock(d / "run-2.lock", true);
  REQUIRE(live);
  write_file(d / "run-3/kept", "kept with --keep-build-dir: no lock file");
  write_file(d / "run-4.lock", "");  // killed before its directory existed
  write_file(d / "other/file", "not a run");
  remove_stale_runs(d.path);
  CHECK_FALSE(fs::exists(d / "run-1"));
  CHECK_FALSE(fs::exists(d / "run-1.lock"));
  CHECK(fs::exists(d / "run-2/image-1/image.raw"));
  CHECK(fs::exists(d / "run-2.lock"));
  CHECK(fs::exists(d / "run-3/kept"));
  CHECK_FALSE(fs::exists(d / "run-4.lock"));
  CHECK(fs::exists(d / "other/file"));
}

TEST_CASE("a run claim holds its lock file until released") {
  TempDir d;
  std::optional<RunClaim> claim;
  claim.emplace(d / "run-7");
  CHECK(fs::exists(d / "run-7.lock"));
  remove_stale_runs(d.path);
  CHECK(fs::exists(d / "run-7.lock"));
  claim->release();
  CHECK_FALSE(fs::exists(d / "run-7.lock"));
}

TEST_CASE("an owned temporary output replaces only unheld ones of the same target") {
  TempDir d;
  write_file(d / ".out.raw.tmp-AAAAAA", "killed run");
  write_file(d / ".out.raw.tmp-BBBBBB", "live run");
  auto held = OwnerLock::try_lock(d / ".out.raw.tmp-BBBBBB", false);
  REQUIRE(held);
  write_file(d / ".other.raw.tmp-CCCCCC", "another output");
  {
    OwnedTempFile t(d / "out.raw");
    CHECK(t.path().rfind(d / ".out.raw.tmp-", 0) == 0);
    CHECK(fs::exists(t.path()));
    CHECK_FALSE(OwnerLock::try_lock(t.path(), false));  // held while it lives
    CHECK_FALSE(fs::exists(d / ".out.raw.tmp-AAAAAA"));
    CHECK(fs::exists(d / ".out.raw.tmp-BBBBBB"));
    CHECK(fs::exists(d / ".other.raw.tmp-CCCCCC"));
    fs::remove(t.path());
  }
}

TEST_CASE("an owned temporary output directory replaces only unheld ones of the same target") {
  TempDir d;
  write_file(d / ".pxe.tmp-AAAAAA/boot/vmlinuz", "killed run");
  write_file(d / ".pxe.tmp-BBBBBB/boot/vmlinuz", "live run");
  auto held = OwnerLock::try_lock_dir(d / ".pxe.tmp-BBBBBB");
  REQUIRE(held);
  write_file(d / ".other.tmp-CCCCCC/file", "another output");
  write_file(d / ".pxe.tmp-DDDDDD", "a file, not a directory: not ours");
  {
    OwnedTempDir t(d / "pxe");
    CHECK(t.path().rfind(d / ".pxe.tmp-", 0) == 0);
    CHECK(fs::is_directory(t.path()));
    CHECK_FALSE(OwnerLock::try_lock_dir(t.path()));  // held while it lives
    CHECK_FALSE(fs::exists(d / ".pxe.tmp-AAAAAA"));
    CHECK(fs::exists(d / ".pxe.tmp-BBBBBB/boot/vmlinuz"));
    CHECK(fs::exists(d / ".other.tmp-CCCCCC/file"));
    CHECK(fs::exists(d / ".pxe.tmp-DDDDDD"));
    fs::remove(t.path());
  }
  held.reset();
  { OwnedTempDir again(d / "pxe"); }
  CHECK_FALSE(fs::exists(d / ".pxe.tmp-BBBBBB"));  // no longer held: reclaimed
}
