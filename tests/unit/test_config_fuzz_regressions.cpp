// Config inputs found by tests/fuzz/fuzz_config that escaped the loader as
// something other than a config Error. Each must now load or fail with the
// exact problem list.
#include <doctest.h>

#include <string>

#include "host/config/config.hpp"
#include "host/system/error.hpp"

using namespace imgrecipe;

namespace {

std::string outcome(const std::string& yaml) {
  try {
    config::load_string(yaml, "cfg.yaml", "/d");
    return "OK";
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Config);
    return e.what();
  }
}

}  // namespace

TEST_CASE("config fuzz regression: unknown legacy keys that start like package keys") {
  // Was: std::out_of_range from substr while translating "PackageLists" (the
  // verb after the prefix is empty); "Packagesinstall" became a garbled key.
  CHECK(outcome("SystemConfig:\n  PackageLists: [a.yaml]\n") ==
        "cfg.yaml:2:3: SystemConfig.PackageLists: unknown legacy key");
  CHECK(outcome("SystemConfig:\n  Packages: [vim]\n") ==
        "cfg.yaml:2:3: SystemConfig.Packages: unknown legacy key");
  CHECK(outcome("SystemConfig:\n  Packagesinstall: [vim]\n") ==
        "cfg.yaml:2:3: SystemConfig.Packagesinstall: unknown legacy key (did you mean 'PackagesInstall'?)");
}
