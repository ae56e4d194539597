// Limits of the config reader: alias and merge-key bombs, nesting depth, NUL
// bytes, input size and files that are not regular files.
#include <doctest.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <string>

#include "host/config/config.hpp"
#include "host/config/source.hpp"
#include "host/system/error.hpp"
#include "host/system/host_file.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

std::string problems(const std::string& yaml) {
  try {
    config::load_string(yaml, "cfg.yaml", "/cfgdir");
    return "OK";
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Config);
    return e.what();
  }
}

// "a: &a [x, ...]" then each level a list of aliases of the one before:
// 9 levels of 9 items expand to 9^9 (387 million) strings.
std::string billion_laughs() {
  std::string y = "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'i'; ++c) {
    y += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) y += (i ? ",*" : "*") + prev;
    y += "]\n";
    prev = std::string(1, c);
  }
  return y;
}

// Merge keys that triple the map at every level.
std::string merge_bomb() {
  std::string y = "a: &a {k0: 1, k1: 2, k2: 3, k3: 4, k4: 5, k5: 6, k6: 7, k7: 8}\n";
  std::string prev = "a";
  for (int level = 0; level < 20; ++level) {
    std::string name = "m" + std::to_string(level);
    std::string refs = "[*" + prev + ", *" + prev + ", *" + prev + "]";
    y += name + ": &" + name + " {<<: " + refs + ", z: {<<: " + refs + "}, y: {<<: " + refs + "}}\n";
    prev = name;
  }
  return y;
}

// Runs `fn` and returns how long it took; the address space is capped at
// 1 GiB meanwhile, so an unbounded expansion fails with bad_alloc instead of
// taking the machine's memory.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// A bomb that got through would run for minutes and exhaust the memory cap;
// the bound is far above a normal parse (well under a second) so a loaded
// CI machine or a sanitizer build does not make it flaky.
constexpr double kBombSeconds = 20.0;

template <typename Fn>
double timed_with_memory_cap(Fn fn) {
  if (kAsan) {
    // ASan reserves terabytes of address space for its shadow: under a 1 GiB
    // RLIMIT_AS its own allocator fails. The time limit still holds.
    auto start = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  struct rlimit old {};
  REQUIRE(getrlimit(RLIMIT_AS, &old) == 0);
  struct rlimit cap = old;
  cap.rlim_cur = std::min<rlim_t>(old.rlim_max, rlim_t(1) << 30);
  REQUIRE(setrlimit(RLIMIT_AS, &cap) == 0);
  auto start = std::chrono::steady_clock::now();
  try {
    fn();
  } catch (...) {
    setrlimit(RLIMIT_AS, &old);
    throw;
  }
  setrlimit(RLIMIT_AS, &old);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("config limits: an alias bomb fails fast with its position") {
  std::string y = billion_laughs();
  CHECK(y.size() < 400);
  std::string out;
  double seconds = timed_with_memory_cap([&] { out = problems(y); });
  CHECK(seconds < kBombSeconds);
  CHECK(out ==
        "cfg.yaml:5:4: too many alias expansions (a YAML alias bomb?): aliases, anchors and merge keys would "
        "copy more than 100000 values");
}

TEST_CASE("config limits: a merge-key bomb fails fast") {
  std::string y = merge_bomb();
  std::string out;
  double seconds = timed_with_memory_cap([&] { out = problems(y); });
  CHECK(seconds < kBombSeconds);
  CHECK(out.find("too many alias expansions (a YAML alias bomb?)") != std::string::npos);
  CHECK(out.rfind("cfg.yaml:", 0) == 0);
}

TEST_CASE("config limits: ordinary aliases and merge keys still work") {
  CHECK(problems("os:\n"
                 "  users:\n"
                 "  - &u {name: a, uid: 1001}\n"
                 "  - {<<: *u, name: b, uid: 1002}\n"
                 "  kernelCommandLine: {extraCommandLine: &args [quiet]}\n") == "OK");
}

TEST_CASE("config limits: nesting deeper than 64 levels names its position") {
  std::string deep = "os: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  CHECK(problems(deep) == "cfg.yaml:1:68: nested more than 64 levels deep");
  std::string block = "a:\n";
  for (int i = 1; i <= 70; ++i) block += std::string(2 * i, ' ') + "b:\n";
  CHECK(problems(block) == "cfg.yaml:65:129: nested more than 64 levels deep");
  // An alias may not carry a value past the limit either.
  std::string nested = "a: &a " + std::string(40, '[') + std::string(40, ']') + "\nb: " + std::string(30, '[') +
                       "*a" + std::string(30, ']') + "\n";
  CHECK(problems(nested) == "cfg.yaml:2:34: nested more than 64 levels deep");
}

TEST_CASE("config limits: a NUL byte is named as such") {
  std::string y = "os:\n  hostname: \"a";
  y += '\0';
  y += "b\"\n";
  CHECK(problems(y) == "cfg.yaml:2:15: NUL byte at 2:15: a YAML file is text and cannot contain one");
}

TEST_CASE("config limits: text above 4 MiB is refused") {
  std::string big = "os:\n  hostname: a\n# " + std::string(config::kMaxConfigBytes, 'x') + "\n";
  CHECK(problems(big) ==
        "cfg.yaml: the text is larger than the limit of 4 MiB (" + std::to_string(big.size()) + " bytes)");
}

TEST_CASE("config limits: only regular files are read") {
  TempDir dir;
  const std::string fifo = dir / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto read_error = [](const std::string& path) {
    try {
      config::load_file(path);
      return std::string("OK");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Config);
      return std::string(e.what());
    }
  };
  // Would block in open() without O_NONBLOCK, and read forever from /dev/zero.
  CHECK(read_error(fifo) == fifo + ": cannot read config file: " + fifo + " is not a regular file (a FIFO)");
  CHECK(read_error("/dev/zero") ==
        "/dev/zero: cannot read config file: /dev/zero is not a regular file (a character device)");
  CHECK(read_error(dir.path) ==
        dir.path + ": cannot read config file: " + dir.path + " is not a regular file (a directory)");
  const std::string big = dir / "big.yaml";
  write_file(big, std::string(config::kMaxConfigBytes + 1, '#'));
  CHECK(read_error(big) == big + ": cannot read config file: " + big + " is larger than the limit of 4 MiB");
  CHECK_THROWS_WITH(config::load_package_list("/dev/zero"),
                    "/dev/zero: cannot read package list: /dev/zero is not a regular file (a character device)");
  CHECK_THROWS_WITH(read_host_file(fifo, "read SSH public key file"),
                    ("read SSH public key file " + fifo + ": " + fifo + " is not a regular file (a FIFO)").c_str());
  CHECK_THROWS_WITH(read_host_file(big, "read password file", 1024),
                    ("read password file " + big + ": " + big + " is larger than the limit of 1 KiB").c_str());
  const std::string small = dir / "small";
  write_file(small, "hello\n");
  CHECK(read_host_file(small) == "hello\n");
  CHECK(read_host_file("/proc/self/comm").size() > 0);  // size 0 in stat, read to the end
}

TEST_CASE("config limits: huge values are cut in error messages") {
  const std::string name(10000, 'a');
  const std::string cut = std::string(100, 'a') + "… (10000 bytes)";
  CHECK(problems("os:\n  hostname: " + name + "_\n") ==
        "cfg.yaml:2:13: os.hostname: invalid hostname '" + std::string(100, 'a') +
            "… (10001 bytes)': expected a DNS name of letters, digits, '-' and '.' (no '_')");
  // YAML keys are at most 1024 characters long.
  CHECK(problems("os:\n  " + std::string(500, 'k') + ": 1\n") ==
        "cfg.yaml:2:3: os." + std::string(197, 'k') + "… (503 bytes): unknown key");
  CHECK(problems("os:\n  users: [{name: \"" + name + "\"}]\n") ==
        "cfg.yaml:2:18: os.users[0].name: invalid user name '" + cut + "': longer than 32 characters");
  // Control characters are shown escaped, never written to the terminal.
  CHECK(problems("os:\n  users: [{name: \"a\\nb\\e[2J\"}]\n") ==
        "cfg.yaml:2:18: os.users[0].name: invalid user name 'a\\nb\\x1b[2J': must not contain a newline (allowed: "
        "letters, digits, '_', '.', '-', and '$' at the end)");
}

TEST_CASE("config limits: at most 500000 values, and 100 problems shown") {
  std::string wide = "os:\n  packages:\n    install: [";
  for (int i = 0; i < 600000; ++i) wide += i ? ",x" : "x";
  wide += "]\n";
  REQUIRE(wide.size() < config::kMaxConfigBytes);
  std::string out;
  double seconds = timed_with_memory_cap([&] { out = problems(wide); });
  CHECK(seconds < kBombSeconds);
  CHECK(out == "cfg.yaml:3:1000009: more than 500000 values in one file");

  std::string many = "os:\n";
  for (int i = 0; i < 150; ++i) many += "  k" + std::to_string(i) + ": 1\n";
  out = problems(many);
  CHECK(out.find("cfg.yaml:2:3: os.k0: unknown key\n") == 0);
  CHECK(out.find("cfg.yaml:101:3: os.k99: unknown key\ncfg.yaml: 50 more problems not shown") != std::string::npos);
  CHECK(out.find("os.k100:") == std::string::npos);
}
