// security/password and security/shadow: SHA-512 crypt hashing and the
// /etc/shadow edits that replace chpasswd/chage (ALIC's semantics).
#include <doctest.h>

#include "host/security/password.hpp"
#include "host/security/shadow.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

const std::string kShadow =
    "root:*:19000:0:99999:7:::\n"
    "rootless:$6$old$hash:19500:0:99999:7:::\n"
    "alice:!:19600::::::\n";

}  // namespace

TEST_CASE("password: SHA-512 crypt with a fresh salt, verifiable") {
  std::string a = password::sha512_crypt("s3cret pass");
  std::string b = password::sha512_crypt("s3cret pass");
  CHECK(a.rfind("$6$", 0) == 0);
  CHECK(a != b);  // random salt
  CHECK(password::matches("s3cret pass", a));
  CHECK(password::matches("s3cret pass", b));
  CHECK_FALSE(password::matches("s3cret pasS", a));
  CHECK(a.find(':') == std::string::npos);
}

TEST_CASE("password: shadow field of each password type") {
  TempDir d;
  write_file(d.path + "/plain.txt", "from file\n");
  write_file(d.path + "/hash.txt", "$6$abc$def\n");
  write_file(d.path + "/two-lines.txt", "a\nb\n");
  write_file(d.path + "/empty.txt", "");
  using T = password::Type;
  CHECK(password::shadow_field(T::Locked, "", d.path).empty());
  CHECK(password::matches("pw", password::shadow_field(T::PlainText, "pw", d.path)));
  CHECK(password::shadow_field(T::Hashed, "$6$x$y", d.path) == "$6$x$y");
  CHECK(password::matches("from file", password::shadow_field(T::PlainTextFile, "plain.txt", d.path)));
  CHECK(password::shadow_field(T::HashedFile, "hash.txt", d.path) == "$6$abc$def");
  CHECK(password::shadow_field(T::PlainTextFile, "empty.txt", d.path).empty());
  CHECK_THROWS_WITH_AS(password::shadow_field(T::PlainTextFile, "two-lines.txt", d.path),
                       doctest::Contains("must hold a single line"), Error);
  CHECK_THROWS_AS(password::shadow_field(T::PlainTextFile, "missing.txt", d.path), Error);
  // A hash that would break the file is refused without being echoed.
  try {
    password::shadow_field(T::Hashed, "abc:def", d.path);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("abc:def") == std::string::npos);
  }
  CHECK(password::parse_type("plain-text-file") == T::PlainTextFile);
  CHECK_THROWS_AS(password::parse_type("plaintext"), Error);
}

TEST_CASE("shadow: password field replaced for the exact user only") {
  std::string out = shadow::with_password(kShadow, "root", "$6$new$h");
  CHECK(out ==
        "root:$6$new$h:19000:0:99999:7:::\n"
        "rootless:$6$old$hash:19500:0:99999:7:::\n"
        "alice:!:19600::::::\n");
  CHECK(shadow::with_password(kShadow, "alice", "*").find("alice:*:19600::::::\n") != std::string::npos);
  try {
    shadow::with_password(kShadow, "roo", "x");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "user 'roo' not found in /etc/shadow");
  }
}

TEST_CASE("shadow: passwordExpiresDays as ALIC writes it") {
  // N days: account expiration = last change + N.
  CHECK(shadow::with_expiry(kShadow, "rootless", 30, 20000).find("rootless:$6$old$hash:19500:0:99999:7::19530:\n") !=
        std::string::npos);
  // No last change yet: today is used.
  CHECK(shadow::with_expiry("u:x:::::::\n", "u", 5, 20000) == "u:x:20000:::::20005:\n");
  // -1: maximum age, warning, inactivity, expiration and reserved cleared.
  CHECK(shadow::with_expiry(kShadow, "root", -1, 20000).find("root:*:19000:0:::::\n") != std::string::npos);
  CHECK_THROWS_WITH_AS(shadow::with_expiry("u:x:1:2\n", "u", 3, 1), doctest::Contains("4 fields instead of 9"), Error);
}
