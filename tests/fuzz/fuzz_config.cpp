// libFuzzer target: the config loader on any bytes. load_string is the
// in-memory entry of load_file (current schema and the legacy SystemConfig
// translation); the same bytes also go through load_package_list, which only
// reads paths, via a memfd. A config Error is the expected outcome for bad
// input; anything else escaping (std::exception, a sanitizer report, an
// abort) is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "host/config/config.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace imgrecipe;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_level(log::Level::Off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    config::Config cfg = config::load_string(text, "fuzz.yaml", "/nonexistent-fuzz-dir");
    (void)config::unsupported_keys(cfg);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Config) fuzz::finding(std::string("not a config error: ") + e.what());
    (void)std::strlen(e.what());
  }

  int fd = memfd_create("fuzz-package-list", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  if (size > 0 && write(fd, data, size) != static_cast<ssize_t>(size)) std::abort();
  try {
    (void)config::load_package_list("/proc/self/fd/" + std::to_string(fd));
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Config) fuzz::finding(std::string("not a config error: ") + e.what());
  }
  close(fd);
  return 0;
}
