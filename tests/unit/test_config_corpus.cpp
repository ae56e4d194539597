// Loads ALIC's own test configs (shared/compat/alic-testdata) and compares the
// outcome with alic-testdata-expectations.tsv.
#include <doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "host/config/config.hpp"
#include "host/system/error.hpp"

using namespace imgrecipe;
namespace fs = std::filesystem;

namespace {

// $IMGRECIPE_SHARED_DIR, else <repo>/../shared; the repo root is three levels
// above this file (tests/unit/<file>).
fs::path shared_dir() {
  if (const char* env = std::getenv("IMGRECIPE_SHARED_DIR"); env && *env) return env;
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared";
}

std::map<std::string, std::string> read_expectations(const fs::path& tsv) {
  std::map<std::string, std::string> outcome;
  std::ifstream in(tsv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string file, result;
    std::getline(fields, file, '\t');
    std::getline(fields, result, '\t');
    outcome[file] = result;
  }
  return outcome;
}

}  // namespace

TEST_CASE("config corpus: ALIC's testdata configs load as ALIC expects") {
  const fs::path data = shared_dir() / "compat" / "alic-testdata";
  const fs::path tsv = shared_dir() / "compat" / "alic-testdata-expectations.tsv";
  if (!fs::is_directory(data) || !fs::is_regular_file(tsv)) {
    MESSAGE("skipped: no ALIC testdata at ", data.string(), " (set IMGRECIPE_SHARED_DIR)");
    return;
  }
  const auto expected = read_expectations(tsv);

  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(data)) {
    const auto name = entry.path().filename().string();
    if (entry.is_regular_file() && entry.path().extension() == ".yaml" && !name.starts_with("osmodifier-")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() > 100);

  int valid = 0, valid_ok = 0, invalid = 0, invalid_ok = 0;
  for (const fs::path& file : files) {
    const std::string name = file.filename().string();
    auto it = expected.find(name);
    CAPTURE(name);
    REQUIRE_MESSAGE(it != expected.end(), "no expectation for ", name);
    const std::string& outcome = it->second;
    std::string error;
    try {
      config::ConfigChain chain = config::load_chain(file.string());
      (void)config::unsupported_keys(chain);
    } catch (const Error& e) {
      error = e.what();
    }
    // Runtime failures are valid configs that fail while customizing.
    if (outcome == "valid" || outcome == "runtime-failure") {
      ++valid;
      CHECK_MESSAGE(error.empty(), error);
      if (error.empty()) ++valid_ok;
    } else if (name == "storage-more-than-one.yaml") {
      ++invalid;
      CHECK(error.find("storage may only be specified in one config file") != std::string::npos);
      if (!error.empty()) ++invalid_ok;
    } else {
      ++invalid;
      CHECK_MESSAGE(!error.empty(), "expected ", outcome);
      if (!error.empty()) ++invalid_ok;
    }
  }
  MESSAGE("ALIC testdata: ", valid_ok, "/", valid, " valid configs load; ", invalid_ok, "/", invalid,
          " invalid or foreign-schema configs are rejected");
}
