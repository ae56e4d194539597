#include <doctest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "host/system/disk_space.hpp"
#include "host/system/error.hpp"

using namespace imgrecipe;

namespace {

struct TempBuildDir {
  std::string path;
  TempBuildDir() {
    char tmpl[] = "/tmp/imgrecipe-unit-space.XXXXXX";
    path = ::mkdtemp(tmpl);
    space::set_build_dir(path);
  }
  ~TempBuildDir() {
    space::set_build_dir("");
    std::filesystem::remove_all(path);
  }
};

}  // namespace

TEST_CASE("no_space_error names the build directory, its free space and the cause") {
  TempBuildDir b;
  Error e = space::no_space_error(b.path + "/run-1/image-1/image.raw", "writing");
  std::string msg = e.what();
  CHECK(msg.starts_with("no space left in the build directory " + b.path + " ("));
  CHECK(msg.find(" MiB free): writing") != std::string::npos);
  CHECK(e.sys_errno == ENOSPC);
}

TEST_CASE("explain leaves errors alone while the build directory has room") {
  TempBuildDir b;
  REQUIRE(space::free_bytes(b.path) >= space::kLowWater);
  Error e(ErrorKind::Command, "step 'x': command `false` exited with code 1");
  CHECK(std::string(space::explain(e).what()) == e.what());
}

TEST_CASE("explain attributes a failed write into the build directory to the lack of space") {
  TempBuildDir b;
  Error sys(ErrorKind::System, "write x: No space left on device");
  sys.sys_errno = ENOSPC;
  sys.target = b.path + "/run-1/x";
  Error out = space::explain(sys);
  CHECK(std::string(out.what()).starts_with("no space left in the build directory " + b.path));
  CHECK(std::string(out.what()).ends_with(": write x: No space left on device"));
  CHECK(out.kind() == ErrorKind::System);
  CHECK(std::string(space::explain(out).what()) == out.what());  // once only

  Error cmd(ErrorKind::Command, "command `qemu-img convert` exited with code 1");
  cmd.argv = {"qemu-img", "convert", "in", b.path + "/run-1/image.raw"};
  cmd.output_tail = {"qemu-img: error while writing at byte 0: No space left on device"};
  Error out2 = space::explain(cmd);
  CHECK(std::string(out2.what()).starts_with("no space left in the build directory "));
  CHECK(out2.kind() == ErrorKind::Command);
  CHECK(out2.output_tail == cmd.output_tail);

  Error config(ErrorKind::Config, "config.yaml:1:1: unknown key");
  config.sys_errno = ENOSPC;
  config.target = b.path;
  CHECK(std::string(space::explain(config).what()) == config.what());

  // The image's own filesystem being full is not the build directory's problem.
  Error inside(ErrorKind::Command, "command `/tmp/script` in the image exited with code 1");
  inside.argv = {"/bin/sh", "/tmp/script"};
  inside.output_tail = {"dd: error writing '/big': No space left on device"};
  CHECK(std::string(space::explain(inside).what()) == inside.what());
}

TEST_CASE("require_for_copy refuses a build directory smaller than the input's allocation") {
  TempBuildDir b;
  std::string input = b.path + "/input.raw";
  { std::ofstream(input) << std::string(1 << 20, 'x'); }
  CHECK_NOTHROW(space::require_for_copy(input, b.path + "/run-1/image-1/image.raw"));
  // A path on a filesystem with less free space than the input: /proc has none.
  try {
    space::require_for_copy(input, "/proc/image.raw");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("the working copy of " + input + " takes up to 1 MiB") != std::string::npos);
  }
}

TEST_CASE("attribute names a full directory outside the build directory as a directory") {
  TempBuildDir b;
  Error e(ErrorKind::System, "partition 2 lost writes");
  // /proc has no free space at all.
  CHECK(std::string(space::attribute(e, "/proc/image.raw").what()) ==
        "no space left in the directory /proc (0 MiB free): partition 2 lost writes");
  CHECK(std::string(space::attribute(e, b.path + "/image.raw").what()) == e.what());  // room there
  Error usage(ErrorKind::Usage, "bad argument");
  CHECK(std::string(space::attribute(usage, "/proc/image.raw").what()) == usage.what());
}
