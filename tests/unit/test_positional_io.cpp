// system/positional_io: reads and writes at an offset; short reads at the end
// of the file, and errors naming the file. (EINTR, retried, cannot be provoked
// on a regular file.)
#include <doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "host/system/error.hpp"
#include "host/system/positional_io.hpp"
#include "host/system/unique_fd.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

// The error `fn` throws (failing the test if it throws none).
template <typename Fn>
Error error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no error");
  return Error(ErrorKind::Internal, "");
}

}  // namespace

TEST_CASE("positional_io: read_some_at reads what is there, short only at the end of the file") {
  TempDir dir;
  const std::string path = dir / "f";
  write_file(path, "0123456789");
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  char buf[16] = {};
  CHECK(read_some_at(fd.get(), buf, 4, 3, path) == 4);
  CHECK(std::string(buf, 4) == "3456");
  CHECK(read_some_at(fd.get(), buf, sizeof buf, 6, path) == 4);  // 4 bytes left
  CHECK(std::string(buf, 4) == "6789");
  CHECK(read_some_at(fd.get(), buf, sizeof buf, 10, path) == 0);   // at the end
  CHECK(read_some_at(fd.get(), buf, sizeof buf, 1000, path) == 0);  // past it
  CHECK(read_some_at(fd.get(), buf, 0, 0, path) == 0);
}

TEST_CASE("positional_io: read_full_at fails at the end of the file, naming the file and where") {
  TempDir dir;
  const std::string path = dir / "f";
  write_file(path, "0123456789");
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  char buf[16] = {};
  read_full_at(fd.get(), buf, 10, 0, path);
  CHECK(std::string(buf, 10) == "0123456789");
  Error e = error_of([&] { read_full_at(fd.get(), buf, 8, 4, path); });
  CHECK(e.kind() == ErrorKind::System);
  CHECK(std::string(e.what()) == "read " + path + ": unexpected end of file at 10");
  CHECK(e.op == "read");
  CHECK(e.target == path);
  e = error_of([&] { read_full_at(fd.get(), buf, 1, 10, path, "read the header of"); });
  CHECK(std::string(e.what()) == "read the header of " + path + ": unexpected end of file at 10");
}

TEST_CASE("positional_io: write_full_at writes at the offset, leaving the rest as it was") {
  TempDir dir;
  const std::string path = dir / "f";
  write_file(path, "abcdef");
  UniqueFd fd = open_or_throw(path, O_RDWR);
  write_full_at(fd.get(), "XY", 2, 2, path);
  write_full_at(fd.get(), "Z", 1, 8, path);  // past the end: a gap of zeros
  CHECK(read_file(path) == std::string("abXYef\0\0Z", 9));
  write_full_at(fd.get(), "", 0, 100, path);  // nothing to write: the size stays
  CHECK(read_file(path).size() == 9);
}

TEST_CASE("positional_io: system call failures are System errors with the op, file and errno") {
  TempDir dir;
  const std::string path = dir / "f";
  write_file(path, "abc");
  char buf[4] = {};
  {
    UniqueFd wo = open_or_throw(path, O_WRONLY);
    Error e = error_of([&] { read_some_at(wo.get(), buf, 3, 0, path); });
    CHECK(e.kind() == ErrorKind::System);
    CHECK(e.sys_errno == EBADF);
    CHECK(e.target == path);
    CHECK(std::string(e.what()).rfind("read " + path + ": ", 0) == 0);
    e = error_of([&] { read_full_at(wo.get(), buf, 3, 0, path, "read volume ID of"); });
    CHECK(e.sys_errno == EBADF);
    CHECK(std::string(e.what()).rfind("read volume ID of " + path + ": ", 0) == 0);
  }
  {
    UniqueFd ro = open_or_throw(path, O_RDONLY);
    Error e = error_of([&] { write_full_at(ro.get(), "x", 1, 0, path); });
    CHECK(e.kind() == ErrorKind::System);
    CHECK(e.sys_errno == EBADF);
    CHECK(e.op == "write");
    CHECK(std::string(e.what()).rfind("write " + path + ": ", 0) == 0);
  }
  int p[2];
  REQUIRE(::pipe(p) == 0);
  UniqueFd r(p[0]), w(p[1]);
  Error e = error_of([&] { read_some_at(r.get(), buf, 1, 0, "the pipe"); });
  CHECK(e.sys_errno == ESPIPE);  // not seekable: no positional I/O
  e = error_of([&] { write_full_at(w.get(), "x", 1, 0, "the pipe", "copy file into image"); });
  CHECK(e.sys_errno == ESPIPE);
  CHECK(std::string(e.what()).rfind("copy file into image the pipe: ", 0) == 0);
  CHECK(read_file(path) == "abc");
}
