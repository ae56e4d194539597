// baseConfigs chains, the legacy SystemConfig schema, package-list files and
// resource checks (host/config/chain.cpp, merge.cpp, legacy.cpp,
// package_list.cpp, resources.cpp).
#include <doctest.h>

#include <string>

#include "host/config/config.hpp"
#include "host/config/resources.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;
using config::Node;

namespace {

// The error message, or "OK".
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
    return "OK";
  } catch (const Error& e) {
    return e.what();
  }
}

// A tree without positions, for comparing a legacy config with its modern spelling.
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

}  // namespace

TEST_CASE("config chain: base configs first, merged view per ALIC's rules") {
  TempDir d;
  write_file(d / "bases/base.yaml",
          "previewFeatures: [output-artifacts]\n"
          "input: {image: {path: base.vhdx}}\n"
          "os:\n"
          "  hostname: base-host\n"
          "  imageHistory: none\n"
          "  kernelCommandLine: {extraCommandLine: [a=1]}\n"
          "  additionalFiles: [{destination: /b, content: b}]\n"
          "output:\n"
          "  image: {path: out/base.raw, format: raw}\n"
          "  artifacts: {path: art, items: [shim]}\n");
  write_file(d / "top.yaml",
          "previewFeatures: [base-configs]\n"
          "baseConfigs: [{path: bases/base.yaml}]\n"
          "os:\n"
          "  hostname: top-host\n"
          "  kernelCommandLine: {extraCommandLine: [b=2]}\n"
          "  additionalFiles: [{destination: /t, content: t}]\n"
          "output:\n"
          "  image: {format: vhdx}\n"
          "  artifacts: {path: art2, items: [ukis, shim]}\n");
  auto chain = config::load_chain(d / "top.yaml");
  REQUIRE(chain.configs.size() == 2);
  CHECK(chain.configs[0].path == d / "bases/base.yaml");
  CHECK(chain.configs[0].dir == d / "bases");
  CHECK(chain.top().path == d / "top.yaml");
  const Node& m = chain.merged;
  CHECK(get(m, {"os", "hostname"}).str == "top-host");            // last wins
  CHECK(get(m, {"os", "imageHistory"}).str == "none");            // kept from the base
  CHECK(dump(get(m, {"os", "kernelCommandLine", "extraCommandLine"})) == "['a=1','b=2',]");
  CHECK(dump(get(m, {"output", "artifacts", "items"})) == "['shim','ukis',]");  // merged, no duplicates
  CHECK(get(m, {"output", "artifacts", "path"}).str == d / "art2");
  CHECK(get(m, {"output", "image", "format"}).str == "vhdx");
  // Paths from a base config stay relative to it.
  CHECK(get(m, {"input", "image", "path"}).str == d / "bases/base.vhdx");
  CHECK(get(m, {"output", "image", "path"}).str == d / "bases/out/base.raw");
  CHECK(get(m, {"os", "additionalFiles"}).items.size() == 2);
  CHECK(m.find("baseConfigs") == nullptr);
  CHECK(dump(get(m, {"previewFeatures"})) == "['output-artifacts','base-configs',]");
}

TEST_CASE("config chain: preview features count over the whole chain") {
  TempDir d;
  // The base uses output.artifacts; only the top config enables it.
  write_file(d / "base.yaml", "output: {artifacts: {path: a, items: [shim]}}\n");
  write_file(d / "top.yaml", "previewFeatures: [base-configs, output-artifacts]\nbaseConfigs: [{path: base.yaml}]\n");
  CHECK(error_of([&] { config::load_chain(d / "top.yaml"); }) == "OK");
  // Without it anywhere, the base config's use is reported in the base config.
  write_file(d / "top2.yaml", "previewFeatures: [base-configs]\nbaseConfigs: [{path: base.yaml}]\n");
  CHECK(error_of([&] { config::load_chain(d / "top2.yaml"); }) ==
        d / "base.yaml" +
            ":1:10: output.artifacts: the 'output-artifacts' preview feature must be enabled to use 'output.artifacts'");
}

TEST_CASE("config chain: cycles, missing files and storage in two configs") {
  TempDir d;
  const std::string dir = d.path;
  write_file(d / "a.yaml", "previewFeatures: [base-configs]\nbaseConfigs: [{path: sub/b.yaml}]\n");
  write_file(d / "sub/b.yaml", "baseConfigs:\n- path: ../a.yaml\n");
  CHECK(error_of([&] { config::load_chain(dir + "/a.yaml"); }) ==
        dir + "/sub/b.yaml:2:9: baseConfigs[0].path: cycle detected in baseConfigs: " + dir + "/a.yaml -> " + dir +
            "/sub/b.yaml -> " + dir + "/a.yaml");

  write_file(d / "self.yaml", "previewFeatures: [base-configs]\nbaseConfigs: [{path: self.yaml}]\n");
  CHECK(error_of([&] { config::load_chain(dir + "/self.yaml"); }) ==
        dir + "/self.yaml:2:22: baseConfigs[0].path: cycle detected in baseConfigs: " + dir + "/self.yaml -> " + dir +
            "/self.yaml");

  write_file(d / "missing.yaml", "previewFeatures: [base-configs]\nbaseConfigs: [{path: nope.yaml}]\n");
  CHECK(error_of([&] { config::load_chain(dir + "/missing.yaml"); }) ==
        dir + "/missing.yaml:2:22: baseConfigs[0].path: base config '" + dir + "/nope.yaml' not found");

  write_file(d / "s1.yaml", "storage: {resetPartitionsUuidsType: reset-all}\nos: {bootloader: {resetType: hard-reset}}\n");
  write_file(d / "s2.yaml",
          "previewFeatures: [base-configs]\nbaseConfigs: [{path: s1.yaml}]\n"
          "storage:\n  resetPartitionsUuidsType: reset-all\nos: {bootloader: {resetType: hard-reset}}\n");
  CHECK(error_of([&] { config::load_chain(dir + "/s2.yaml"); }) ==
        dir + "/s2.yaml:3:1: storage: storage may only be specified in one config file (also set in " + dir +
            "/s1.yaml)");

  // Problems of every file are listed, base configs first.
  write_file(d / "bad-base.yaml", "os: {hostnme: x}\n");
  write_file(d / "bad-top.yaml", "previewFeatures: [base-configs]\nbaseConfigs: [{path: bad-base.yaml}]\nos: {hostname: bad_}\n");
  CHECK(error_of([&] { config::load_chain(dir + "/bad-top.yaml"); }) ==
        dir + "/bad-base.yaml:1:6: os.hostnme: unknown key (did you mean 'hostname'?)\n" + dir +
            "/bad-top.yaml:3:16: os.hostname: invalid hostname 'bad_': expected a DNS name of letters, digits, '-' and "
            "'.' (no '_')");
}

TEST_CASE("config chain: a single config is its own chain; unsupported keys name their file") {
  TempDir d;
  write_file(d / "base.yaml", "os: {hostname: b}\npreviewFeatures: [output-selinux-policy]\noutput: {selinuxPolicyPath: /p}\n");
  write_file(d / "top.yaml", "previewFeatures: [base-configs]\nbaseConfigs: [{path: base.yaml}]\nos: {hostname: h}\n");
  auto single = config::load_chain(d / "base.yaml");
  REQUIRE(single.configs.size() == 1);
  CHECK(dump(single.merged) == dump(single.configs[0].root));
  auto chain = config::load_chain(d / "top.yaml");
  auto unsupported = config::unsupported_keys(chain);
  REQUIRE(unsupported.size() == 1);
  CHECK(unsupported[0].key == "output.selinuxPolicyPath");
  CHECK(unsupported[0].path == d / "base.yaml");
  CHECK(unsupported[0].mark.line == 3);
}

TEST_CASE("config legacy schema: SystemConfig translates to the current tree, with warnings") {
  auto legacy = config::load_string(
      "SystemConfig:\n"
      "  Hostname: old\n"
      "  UpdateBaseImagePackages: true\n"
      "  PackagesInstall: [vim]\n"
      "  PackageListsRemove: [lists/r.yaml]\n"
      "  AdditionalFiles:\n"
      "    files/a.txt: /a.txt\n"
      "    files/b.txt:\n"
      "      Path: /b.txt\n"
      "      Permissions: \"664\"\n"
      "    files/c.txt:\n"
      "    - /c1.txt\n"
      "    - Path: /c2.txt\n"
      "  Users:\n"
      "  - Name: test\n"
      "    UID: 1001\n"
      "    PasswordPath: pw.txt\n"
      "    PasswordHashed: true\n"
      "    PasswordExpiresDays: 30\n"
      "    SSHPubKeyPaths: [id.pub]\n"
      "    PrimaryGroup: wheel\n"
      "    SecondaryGroups: [adm]\n"
      "    StartupCommand: /bin/bash\n"
      "    HomeDirectory: /home/t\n"
      "  Services: {Enable: [sshd], Disable: [getty]}\n"
      "  Modules:\n"
      "    Load: [{Name: br_netfilter}]\n"
      "    Disable: [{Name: mousedev}]\n"
      "  PostInstallScripts: [{Path: s/a.sh, Args: \"-x  y\"}]\n"
      "  FinalizeImageScripts: [{Path: s/b.sh}]\n"
      "  KernelCommandLine: {ExtraCommandLine: \"console=ttyS0 quiet\"}\n",
      "legacy.yaml", "/d");
  auto modern = config::load_string(
      "os:\n"
      "  hostname: old\n"
      "  packages: {updateExistingPackages: true, install: [vim], removeLists: [lists/r.yaml]}\n"
      "  additionalFiles:\n"
      "  - {source: files/a.txt, destination: /a.txt}\n"
      "  - {source: files/b.txt, destination: /b.txt, permissions: \"664\"}\n"
      "  - {source: files/c.txt, destination: /c1.txt}\n"
      "  - {source: files/c.txt, destination: /c2.txt}\n"
      "  users:\n"
      "  - name: test\n"
      "    uid: 1001\n"
      "    passwordExpiresDays: 30\n"
      "    sshPublicKeyPaths: [id.pub]\n"
      "    primaryGroup: wheel\n"
      "    secondaryGroups: [adm]\n"
      "    startupCommand: /bin/bash\n"
      "    homeDirectory: /home/t\n"
      "    password: {type: hashed-file, value: pw.txt}\n"
      "  services: {enable: [sshd], disable: [getty]}\n"
      "  modules:\n"
      "  - {name: br_netfilter, loadMode: always}\n"
      "  - {name: mousedev, loadMode: disable}\n"
      "  kernelCommandLine: {extraCommandLine: [console=ttyS0, quiet]}\n"
      "scripts:\n"
      "  postCustomization: [{path: s/a.sh, arguments: [-x, y]}]\n"
      "  finalizeCustomization: [{path: s/b.sh}]\n",
      "modern.yaml", "/d");
  CHECK(dump(legacy.root) == dump(modern.root));
  CHECK(modern.warnings.empty());
  REQUIRE(legacy.warnings.size() == 11);
  CHECK(legacy.warnings[0] == "legacy.yaml:2:3: SystemConfig.Hostname is the legacy schema: write os.hostname");
  CHECK(legacy.warnings[3] ==
        "legacy.yaml:5:3: SystemConfig.PackageListsRemove is the legacy schema: write os.packages.removeLists");
  // Positions point into the original file.
  CHECK(get(legacy.root, {"os", "hostname"}).mark.line == 2);
  CHECK(get(legacy.root, {"os", "users"}).items[0].find("name")->mark.line == 15);

  // Plain-text password and the older list form of Modules.
  auto pw = config::load_string(
      "SystemConfig:\n  Users: [{Name: a, Password: x}]\n  Modules: [{Name: m, LoadMode: auto, Options: {a: b}}]\n",
      "l.yaml", "/d");
  CHECK(dump(get(pw.root, {"os", "users"})) == "[{name:'a',password:{type:'plain-text',value:'x',},},]");
  CHECK(dump(get(pw.root, {"os", "modules"})) == "[{name:'m',loadMode:'auto',options:{a:'b',},},]");
}

TEST_CASE("config package lists: strict `packages: [...]` files") {
  TempDir d;
  const std::string dir = d.path;
  write_file(d / "ok.yaml", "packages:\n- vim\n- curl\n");
  CHECK(config::load_package_list(dir + "/ok.yaml") == std::vector<std::string>{"vim", "curl"});
  write_file(d / "empty.yaml", "");
  CHECK(config::load_package_list(dir + "/empty.yaml").empty());
  write_file(d / "typo.yaml", "pakages: [vim]\n");
  CHECK(error_of([&] { config::load_package_list(dir + "/typo.yaml"); }) ==
        dir + "/typo.yaml:1:1: pakages: unknown key (did you mean 'packages'?)");
  write_file(d / "type.yaml", "packages: vim\n");
  CHECK(error_of([&] { config::load_package_list(dir + "/type.yaml"); }) ==
        dir + "/type.yaml:1:11: packages: expected a list");
  CHECK(error_of([&] { config::load_package_list(dir + "/none.yaml"); }) ==
        dir + "/none.yaml: cannot read package list: No such file or directory");
}

TEST_CASE("config resources: files the config names must exist") {
  TempDir d;
  const std::string dir = d.path;
  write_file(d / "files/a.txt", "a");
  write_file(d / "scripts/s.sh", "true");
  write_file(d / "lists/good.yaml", "packages: [a]\n");
  write_file(d / "lists/bad.yaml", "packages: {a: b}\n");
  write_file(d / "dirs/x/y", "");
  write_file(d / "cfg.yaml",
          "os:\n"
          "  additionalFiles:\n"
          "  - {source: files/a.txt, destination: /a}\n"
          "  - {source: files/missing.txt, destination: /m}\n"
          "  additionalDirs:\n"
          "  - {source: dirs/x, destination: /x}\n"
          "  - {source: files/a.txt, destination: /y}\n"
          "  users:\n"
          "  - name: u\n"
          "    password: {type: plain-text-file, value: pw.txt}\n"
          "    sshPublicKeyPaths: [id.pub]\n"
          "  packages:\n"
          "    installLists: [lists/good.yaml, lists/bad.yaml]\n"
          "scripts:\n"
          "  postCustomization: [{path: scripts/s.sh}, {path: scripts/none.sh}]\n");
  auto chain = config::load_chain(dir + "/cfg.yaml");
  CHECK(error_of([&] { config::check_resource_files(chain); }) ==
        dir + "/cfg.yaml:4:14: os.additionalFiles[1].source: 'files/missing.txt' does not exist\n" + dir +
            "/cfg.yaml:7:14: os.additionalDirs[1].source: 'files/a.txt' is not a directory\n" + dir +
            "/cfg.yaml:10:46: os.users[0].password.value: 'pw.txt' does not exist\n" + dir +
            "/cfg.yaml:11:25: os.users[0].sshPublicKeyPaths[0]: 'id.pub' does not exist\n" + dir +
            "/cfg.yaml:13:37: os.packages.installLists[1]: invalid package list:\n" + dir +
            "/lists/bad.yaml:1:11: packages: expected a list\n" + dir +
            "/cfg.yaml:15:52: scripts.postCustomization[1].path: 'scripts/none.sh' does not exist");
}
