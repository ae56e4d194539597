// Old forms that ALIC's ISO documentation still shows: additionalFiles as a
// map and extraCommandLine as one string (host/config/old_forms.cpp).
#include <doctest.h>

#include <string>
#include <vector>

#include "host/config/config.hpp"
#include "host/config/old_forms.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;
using config::Node;

namespace {

std::string error_of(const std::string& text) {
  try {
    config::load_string(text, "cfg.yaml", "/d");
    return "OK";
  } catch (const Error& e) {
    return e.what();
  }
}

// A tree without positions.
std::string dump(const Node& n) {
  switch (n.kind) {
    case Node::Kind::Null: return "~";
    case Node::Kind::String: return "'" + n.str + "'";
    case Node::Kind::Int: return std::to_string(n.i);
    case Node::Kind::Bool: return n.b ? "true" : "false";
    case Node::Kind::Sequence: {
      std::string out = "[";
      for (const Node& i : n.items) out += dump(i) + ",";
      return out + "]";
    }
    case Node::Kind::Map: {
      std::string out = "{";
      for (const auto& [k, v] : n.fields) out += k + ":" + dump(v) + ",";
      return out + "}";
    }
  }
  return "?";
}

std::vector<std::string> words(std::string_view s) {
  std::string error;
  auto w = config::kernel_words(s, error);
  if (!w) return {"error: " + error};
  return *w;
}

}  // namespace

TEST_CASE("config old forms: additionalFiles map and extraCommandLine string in os, iso and pxe") {
  const std::string old_text =
      "os:\n"
      "  additionalFiles:\n"
      "    files/a.txt: /etc/a.txt\n"
      "    files/b.txt:\n"
      "      path: /b.txt\n"
      "      permissions: \"664\"\n"
      "    files/c.txt:\n"
      "    - /c1.txt\n"
      "    - {path: /c2.txt, permissions: 600}\n"
      "  kernelCommandLine:\n"
      "    extraCommandLine: console=ttyS0 'quiet'  dyndbg=\"file a.c +p\"\n"
      "iso:\n"
      "  additionalFiles:\n"
      "    cloud-init-data/user-data: /cloud-init-data/user-data\n"
      "  kernelCommandLine: {extraCommandLine: rd.info}\n"
      "pxe:\n"
      "  additionalFiles: {p.txt: /p.txt}\n"
      "  kernelCommandLine: {extraCommandLine: \"ip=dhcp\"}\n";
  auto old = config::load_string(old_text, "cfg.yaml", "/d");
  auto modern = config::load_string(
      "os:\n"
      "  additionalFiles:\n"
      "  - {source: files/a.txt, destination: /etc/a.txt}\n"
      "  - {source: files/b.txt, destination: /b.txt, permissions: \"664\"}\n"
      "  - {source: files/c.txt, destination: /c1.txt}\n"
      "  - {source: files/c.txt, destination: /c2.txt, permissions: \"600\"}\n"
      "  kernelCommandLine:\n"
      "    extraCommandLine: [console=ttyS0, quiet, 'dyndbg=\"file a.c +p\"']\n"
      "iso:\n"
      "  additionalFiles: [{source: cloud-init-data/user-data, destination: /cloud-init-data/user-data}]\n"
      "  kernelCommandLine: {extraCommandLine: [rd.info]}\n"
      "pxe:\n"
      "  additionalFiles: [{source: p.txt, destination: /p.txt}]\n"
      "  kernelCommandLine: {extraCommandLine: [ip=dhcp]}\n",
      "modern.yaml", "/d");
  CHECK(dump(old.root) == dump(modern.root));
  CHECK(modern.warnings.empty());
  // Positions point into the original file.
  CHECK(get(old.root, {"os", "additionalFiles"}).items[1].find("destination")->mark.line == 5);
  CHECK(get(old.root, {"os", "additionalFiles"}).items[0].find("source")->mark.line == 3);
  CHECK(get(old.root, {"os", "kernelCommandLine", "extraCommandLine"}).items[2].mark.line == 11);

  REQUIRE(old.warnings.size() == 6);
  CHECK(old.warnings[0] ==
        "cfg.yaml:2:3: os.additionalFiles as a map is an old form: write\n"
        "    additionalFiles:\n"
        "    - source: files/a.txt\n"
        "      destination: /etc/a.txt\n"
        "    - source: files/b.txt\n"
        "      destination: /b.txt\n"
        "      permissions: \"664\"\n"
        "    - source: files/c.txt\n"
        "      destination: /c1.txt\n"
        "    - source: files/c.txt\n"
        "      destination: /c2.txt\n"
        "      permissions: \"600\"");
  CHECK(old.warnings[1] ==
        "cfg.yaml:11:5: os.kernelCommandLine.extraCommandLine as a single string is an old form: write\n"
        "    extraCommandLine:\n"
        "    - console=ttyS0\n"
        "    - quiet\n"
        "    - dyndbg=\"file a.c +p\"");
  CHECK(old.warnings[2] ==
        "cfg.yaml:13:3: iso.additionalFiles as a map is an old form: write\n"
        "    additionalFiles:\n"
        "    - source: cloud-init-data/user-data\n"
        "      destination: /cloud-init-data/user-data");
  CHECK(old.warnings[3] ==
        "cfg.yaml:15:23: iso.kernelCommandLine.extraCommandLine as a single string is an old form: write\n"
        "    extraCommandLine:\n"
        "    - rd.info");
  CHECK(old.warnings[4].starts_with("cfg.yaml:17:3: pxe.additionalFiles as a map is an old form: write\n"));
  CHECK(old.warnings[5].starts_with("cfg.yaml:18:23: pxe.kernelCommandLine.extraCommandLine as a single string"));

  // The replacement YAML shown is today's form of the same config.
  std::string replaced = "os:\n  " + old.warnings[0].substr(old.warnings[0].find("additionalFiles:"));
  for (size_t at = 0; (at = replaced.find("\n    ", at)) != std::string::npos; at += 3) replaced.replace(at, 5, "\n  ");
  auto shown = config::load_string(replaced + "\n", "shown.yaml", "/d");
  CHECK(shown.warnings.empty());
  CHECK(dump(get(shown.root, {"os", "additionalFiles"})) == dump(get(modern.root, {"os", "additionalFiles"})));
}

TEST_CASE("config old forms: the map form keeps its strictness, with file:line:col") {
  CHECK(error_of("os:\n  additionalFiles:\n    a.txt: \"\"\n") ==
        "cfg.yaml:3:12: os.additionalFiles.a.txt: the destination path must not be empty");
  CHECK(error_of("os:\n  additionalFiles:\n    a.txt:\n") ==
        "cfg.yaml:3:5: os.additionalFiles.a.txt: expected a destination path, a {path, permissions} map or a list "
        "of them");
  CHECK(error_of("iso:\n  additionalFiles:\n    a.txt: [[/x]]\n") ==
        "cfg.yaml:3:13: iso.additionalFiles.a.txt: expected a destination path, a {path, permissions} map or a list "
        "of them");
  CHECK(error_of("os:\n  additionalFiles:\n    a.txt: []\n") ==
        "cfg.yaml:3:12: os.additionalFiles.a.txt: expected at least one destination");
  CHECK(error_of("os:\n  additionalFiles:\n    a.txt: {path: /a, permission: \"644\"}\n") ==
        "cfg.yaml:3:23: os.additionalFiles.a.txt.permission: unknown key (did you mean 'permissions'?)");
  CHECK(error_of("os:\n  additionalFiles:\n    a.txt: {permissions: \"644\"}\n") ==
        "cfg.yaml:3:12: os.additionalFiles.a.txt: missing required key 'path'");
  CHECK(error_of("os:\n  additionalFiles:\n    a.txt: {path: {x: y}}\n") ==
        "cfg.yaml:3:19: os.additionalFiles.a.txt.path: expected a non-empty string");
  CHECK(error_of("os:\n  additionalFiles:\n    \"\": /a\n") ==
        "cfg.yaml:3:5: os.additionalFiles: a source path must not be empty");
  CHECK(error_of("os:\n  additionalFiles:\n    a.txt: /a\n    a.txt: /b\n") ==
        "cfg.yaml:4:5: os.additionalFiles.a.txt: duplicate key (first defined at line 3)");
  // Today's checks still apply to the translated entries, at the value's position.
  CHECK(error_of("os:\n  additionalFiles:\n    a.txt: 5\n") ==
        "cfg.yaml:3:12: os.additionalFiles[0].destination: invalid path '5': must be absolute");
  CHECK(error_of("pxe:\n  additionalFiles:\n    a.txt: {path: /a, permissions: rwx}\n") ==
        "cfg.yaml:3:36: pxe.additionalFiles[0].permissions: invalid permissions 'rwx': expected an octal mode such as "
        "0644");
  // Not a map, nor a list: still the usual typing error.
  CHECK(error_of("os:\n  additionalFiles: a.txt\n") == "cfg.yaml:2:20: os.additionalFiles: expected a list");
  // An empty map is an empty list.
  auto empty = config::load_string("os:\n  additionalFiles: {}\n", "cfg.yaml", "/d");
  CHECK(get(empty.root, {"os", "additionalFiles"}).items.empty());
  REQUIRE(empty.warnings.size() == 1);
  CHECK(empty.warnings[0] == "cfg.yaml:2:3: os.additionalFiles as a map is an old form: write\n    additionalFiles: []");
}

TEST_CASE("config old forms: the single-string command line keeps its strictness") {
  CHECK(error_of("os:\n  kernelCommandLine:\n    extraCommandLine: \"\"\n") ==
        "cfg.yaml:3:23: os.kernelCommandLine.extraCommandLine: expected a list of kernel arguments (the old "
        "single-string form must not be empty)");
  CHECK(error_of("os:\n  kernelCommandLine:\n    extraCommandLine: \"  \"\n") ==
        "cfg.yaml:3:23: os.kernelCommandLine.extraCommandLine: expected a list of kernel arguments (the old "
        "single-string form must not be empty)");
  CHECK(error_of("iso:\n  kernelCommandLine:\n    extraCommandLine: \"a 'b\"\n") ==
        "cfg.yaml:3:23: iso.kernelCommandLine.extraCommandLine: the old single-string form: missing closing single "
        "quote");
  // Each word still passes the kernel-argument checks (';' and '$' are quoted where grub.cfg is written).
  CHECK(error_of("os:\n  kernelCommandLine:\n    extraCommandLine: \"quiet 'ds=nocloud;s=x' a=$x\"\n") == "OK");
  // A map is neither form.
  CHECK(error_of("os:\n  kernelCommandLine:\n    extraCommandLine: {a: b}\n") ==
        "cfg.yaml:3:23: os.kernelCommandLine.extraCommandLine: expected a list");
  // Null stays "absent", with no warning.
  auto null = config::load_string("os:\n  kernelCommandLine:\n    extraCommandLine:\n", "cfg.yaml", "/d");
  CHECK(null.warnings.empty());
}

TEST_CASE("config old forms: kernel words are split as GRUB reads the string") {
  CHECK(words("console=ttyS0,115200n8   quiet\trd.info") ==
        std::vector<std::string>{"console=ttyS0,115200n8", "quiet", "rd.info"});
  CHECK(words("'quiet' \"rd.info\" a\\=b") == std::vector<std::string>{"quiet", "rd.info", "a=b"});
  CHECK(words("'ds=nocloud;seedfrom=file://x'") == std::vector<std::string>{"ds=nocloud;seedfrom=file://x"});
  // A word whose value holds a blank or a double quote is kept as written.
  CHECK(words("dyndbg=\"file a.c +p\" x") == std::vector<std::string>{"dyndbg=\"file a.c +p\"", "x"});
  CHECK(words("'a=\"b\"'") == std::vector<std::string>{"'a=\"b\"'"});
  CHECK(words("\"a\\\"b\"") == std::vector<std::string>{"\"a\\\"b\""});
  CHECK(words("\"a\\nb\"") == std::vector<std::string>{"a\\nb"});
  CHECK(words("a\\\nb") == std::vector<std::string>{"ab"});
  CHECK(words("''") == std::vector<std::string>{""});
  CHECK(words("   ").empty());
  CHECK(words("a \"b") == std::vector<std::string>{"error: missing closing double quote"});
  CHECK(words("'a\\'b'") == std::vector<std::string>{"error: missing closing single quote"});
  CHECK(words("a\\") == std::vector<std::string>{"error: a '\\' at the end must be followed by a character"});
}

TEST_CASE("config old forms: legacy SystemConfig passes iso through, and its ExtraCommandLine splits the same way") {
  auto cfg = config::load_string(
      "SystemConfig:\n"
      "  KernelCommandLine: {ExtraCommandLine: \"'quiet' dyndbg=\\\"file a.c\\\"\"}\n"
      "iso:\n"
      "  additionalFiles: {a.txt: /a.txt}\n",
      "cfg.yaml", "/d");
  CHECK(dump(get(cfg.root, {"os", "kernelCommandLine", "extraCommandLine"})) == "['quiet','dyndbg=\"file a.c\"',]");
  CHECK(dump(get(cfg.root, {"iso", "additionalFiles"})) == "[{source:'a.txt',destination:'/a.txt',},]");
  REQUIRE(cfg.warnings.size() == 2);
  CHECK(cfg.warnings[1].starts_with("cfg.yaml:4:3: iso.additionalFiles as a map is an old form: write\n"));
  CHECK(error_of("SystemConfig:\n  KernelCommandLine: {ExtraCommandLine: \"a 'b\"}\n") ==
        "cfg.yaml:2:41: SystemConfig.KernelCommandLine.ExtraCommandLine: missing closing single quote");
}

TEST_CASE("config old forms: a baseConfigs chain merges the translated lists") {
  TempDir d;
  write_file(d / "base.yaml",
             "os:\n  additionalFiles: {files/a.txt: /a.txt}\n  kernelCommandLine: {extraCommandLine: \"a=1 b=2\"}\n");
  write_file(d / "top.yaml",
             "previewFeatures: [base-configs]\nbaseConfigs: [{path: base.yaml}]\n"
             "os:\n  additionalFiles: [{source: b.txt, destination: /b.txt}]\n"
             "  kernelCommandLine: {extraCommandLine: c=3}\n");
  auto chain = config::load_chain(d / "top.yaml");
  CHECK(dump(get(chain.merged, {"os", "kernelCommandLine", "extraCommandLine"})) == "['a=1','b=2','c=3',]");
  REQUIRE(chain.warnings.size() == 3);
  CHECK(chain.warnings[0].starts_with(d / "base.yaml:2:3: os.additionalFiles as a map is an old form"));
  CHECK(chain.warnings[2].starts_with(d / "top.yaml:5:23: os.kernelCommandLine.extraCommandLine as a single"));
}
