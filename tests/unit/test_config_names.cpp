// host/security/names: the rules shared by the config checks and the stdlib.
#include <doctest.h>

#include <string>

#include "host/security/names.hpp"

using namespace imgrecipe;

TEST_CASE("names: user and group names follow shadow-utils") {
  for (const char* ok : {"root", "alice", "_apt", "systemd-network", "Admin", "a.b", "host$", "a1", "x"}) {
    CAPTURE(ok);
    CHECK_FALSE(names::account_name(ok));
  }
  const std::string s32(32, 'a');
  CHECK_FALSE(names::account_name(s32));
  CHECK(names::account_name(s32 + "a") == "longer than 32 characters");
  CHECK(names::account_name("") == "must not be empty");
  CHECK(names::account_name(".") == "must not be '.' or '..'");
  CHECK(names::account_name("..") == "must not be '.' or '..'");
  CHECK(names::account_name("-r") == "must not start with '-'");
  CHECK(names::account_name("0") == "must not be all digits (it would read as a numeric ID)");
  const std::string allowed = " (allowed: letters, digits, '_', '.', '-', and '$' at the end)";
  CHECK(names::account_name("../../root") == "must not contain '/'" + allowed);
  CHECK(names::account_name("a:b") == "must not contain ':'" + allowed);
  CHECK(names::account_name("a,b") == "must not contain ','" + allowed);
  CHECK(names::account_name("a b") == "must not contain a space" + allowed);
  CHECK(names::account_name("a\tb") == "must not contain a tab" + allowed);
  CHECK(names::account_name("a\nb") == "must not contain a newline" + allowed);
  CHECK(names::account_name(std::string("a\0b", 3)) == "must not contain a NUL byte" + allowed);
  CHECK(names::account_name("a$b") == "must not contain '$'" + allowed);
}

TEST_CASE("names: environment variable names") {
  for (const char* ok : {"A", "_x", "PATH", "my_var2"}) CHECK_FALSE(names::env_name(ok));
  CHECK(names::env_name("") == "must not be empty");
  CHECK(names::env_name("1A") == "must not start with a digit");
  CHECK(names::env_name("A=B") == "must not contain '=' (allowed: letters, digits and '_')");
  CHECK(names::env_name(std::string("A\0B", 3)) == "must not contain a NUL byte (allowed: letters, digits and '_')");
  CHECK(names::env_name("A-B") == "must not contain '-' (allowed: letters, digits and '_')");
  CHECK_FALSE(names::env_value("a=b c\n"));
  CHECK(names::env_value(std::string("a\0b", 3)) == "must not contain a NUL byte");
}

TEST_CASE("names: kernel arguments") {
  for (const char* ok : {"quiet", "console=ttyS0,115200n8", "dyndbg=\"file a.c +p\"", "a=1 b=2", "rd.luks=no",
                         "x=#1", "\"quoted word\"", "ds=nocloud;s=file:///run/initramfs/live/seed/", "`x`", "$(x)",
                         "a&b", "a|b", "a<b", "a>b", "{", "}"}) {
    CAPTURE(ok);
    CHECK_FALSE(names::kernel_argument(ok));
  }
  CHECK(names::kernel_argument("") == "must not be empty");
  CHECK(names::kernel_argument("quiet\nmenuentry x {") == "must not contain a newline");
  CHECK(names::kernel_argument("a\rb") == "must not contain a carriage return");
  CHECK(names::kernel_argument("a\tb") == "must not contain a tab");
  CHECK(names::kernel_argument("a\x1b[0m") == "must not contain an escape character");
  CHECK(names::kernel_argument("a=\"b") == "unbalanced double quote");
  CHECK(names::kernel_argument(std::string("a\0b", 3)) == "must not contain a NUL byte");
  for (const char* bad : {"a'b", "a\\b"}) {
    CAPTURE(bad);
    auto why = names::kernel_argument(bad);
    REQUIRE(why);
    CHECK(why->find("GRUB passes it to the kernel with a backslash before it") != std::string::npos);
  }
}

TEST_CASE("names: values shown in messages are cut and escaped") {
  CHECK(names::shown("abc") == "abc");
  CHECK(names::shown("a\nb\tc\x1b") == "a\\nb\\tc\\x1b");
  CHECK(names::shown(std::string(101, 'x')) == std::string(100, 'x') + "… (101 bytes)");
  CHECK(names::shown(std::string(100, 'x')) == std::string(100, 'x'));
  // Not cut inside a UTF-8 character.
  std::string u = std::string(99, 'x') + "é" + "tail";
  CHECK(names::shown(u) == std::string(99, 'x') + "… (" + std::to_string(u.size()) + " bytes)");
}
