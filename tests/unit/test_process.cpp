#include <doctest.h>

#include "host/system/process.hpp"
#include "host/system/error.hpp"

using namespace imgrecipe;

TEST_CASE("run captures stdout and exit code") {
  RunOptions o;
  o.capture_stdout = true;
  auto r = run({"sh", "-c", "echo hello; echo oops >&2; exit 3"}, o);
  CHECK(r.exit_code == 3);
  CHECK(r.out == "hello\n");
  REQUIRE(r.tail.size() == 1);
  CHECK(r.tail.back() == "oops");
}

TEST_CASE("run_checked names the command, exit code and output tail") {
  RunOptions o;
  o.step = "demo";
  try {
    run_checked({"sh", "-c", "for i in 1 2 3; do echo line$i; done; exit 7"}, o);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Command);
    CHECK(e.exit_code == 7);
    CHECK(std::string(e.what()) == "step 'demo': command `sh -c 'for i in 1 2 3; do echo line$i; done; exit 7'` exited with code 7");
    REQUIRE(e.output_tail.size() == 3);
    CHECK(e.output_tail[2] == "line3");
  }
}

TEST_CASE("a missing program is reported") {
  auto r = run({"/nonexistent/prog"});
  CHECK(r.exit_code == 127);
  REQUIRE(!r.tail.empty());
  CHECK(r.tail.back().find("cannot run /nonexistent/prog") != std::string::npos);
}

TEST_CASE("stdin data and a fixed environment reach the child") {
  RunOptions o;
  o.capture_stdout = true;
  o.stdin_data = "abc";
  o.env = std::vector<std::string>{"FOO=bar", "PATH=/usr/bin:/bin"};
  CHECK(run_checked({"sh", "-c", "cat; echo \" $FOO $HOME\""}, o).out == "abc bar \n");
}

TEST_CASE("quote_command") {
  CHECK(quote_command({"a", "b c", "it's"}) == "a 'b c' 'it'\\''s'");
}
