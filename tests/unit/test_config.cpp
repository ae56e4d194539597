#include <doctest.h>

#include <filesystem>
#include <string>

#include "host/config/config.hpp"
#include "host/config/inject_files.hpp"
#include "host/config/paths.hpp"
#include "host/config/suggest.hpp"
#include "host/config/typing.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;
using config::Node;

namespace {

config::Config load(const std::string& yaml) { return config::load_string(yaml, "cfg.yaml", "/cfgdir"); }

// The full error message, or "OK" if the config loads.
std::string problems(const std::string& yaml) {
  try {
    load(yaml);
    return "OK";
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Config);
    return e.what();
  }
}

}  // namespace

TEST_CASE("config: a valid config becomes a typed tree in document order") {
  auto cfg = load(
      "input:\n"
      "  image:\n"
      "    path: base.vhdx\n"
      "os:\n"
      "  hostname: 123\n"
      "  additionalFiles:\n"
      "  - destination: /etc/motd\n"
      "    content: \"\"\n"
      "    permissions: 0644\n"
      "  - source: files/a.txt\n"
      "    destination: /etc/a.txt\n"
      "    permissions: \"600\"\n"
      "  kernelCommandLine:\n"
      "    extraCommandLine: [console=ttyS0, quiet]\n"
      "output:\n"
      "  image:\n"
      "    path: out.qcow2\n"
      "    format: qcow2\n");
  const Node& root = cfg.root;
  CHECK(root.kind == Node::Kind::Map);
  REQUIRE(root.fields.size() == 3);
  CHECK(root.fields[0].first == "input");
  CHECK(root.fields[1].first == "os");
  CHECK(root.fields[2].first == "output");
  CHECK(cfg.path == "cfg.yaml");
  CHECK(cfg.dir == "/cfgdir");

  const Node& hostname = get(root, {"os", "hostname"});
  CHECK(hostname.kind == Node::Kind::String);
  CHECK(hostname.str == "123");  // a string field keeps the text of an int-looking scalar
  CHECK(hostname.mark.line == 5);
  CHECK(hostname.mark.column == 13);
  CHECK(hostname.key_mark.line == 5);
  CHECK(hostname.key_mark.column == 3);

  const Node& files = get(root, {"os", "additionalFiles"});
  REQUIRE(files.kind == Node::Kind::Sequence);
  REQUIRE(files.items.size() == 2);
  CHECK(get(files.items[0], {"content"}).str.empty());
  CHECK(get(files.items[0], {"content"}).kind == Node::Kind::String);
  CHECK(get(files.items[0], {"permissions"}).str == "0644");
  CHECK(get(files.items[1], {"permissions"}).str == "600");
  CHECK(files.items[1].fields[0].first == "source");
  CHECK(files.items[1].mark.line == 10);

  const Node& args = get(root, {"os", "kernelCommandLine", "extraCommandLine"});
  REQUIRE(args.items.size() == 2);
  CHECK(args.items[1].str == "quiet");
  CHECK(get(root, {"output", "image", "format"}).str == "qcow2");
  CHECK(root.find("storage") == nullptr);
  CHECK(get(root, {"os"}).find("users") == nullptr);
}

TEST_CASE("config: ints and bools are typed by the schema") {
  auto cfg = load(
      "os:\n"
      "  users:\n"
      "  - name: alice\n"
      "    uid: 1000\n"
      "    passwordExpiresDays: -1\n"
      "  - name: bob\n"
      "    uid: 0x10\n"
      "  packages:\n"
      "    updateExistingPackages: true\n"
      "  overlays:\n"
      "  - lowerDirs: [/etc]\n"
      "    upperDir: /var/ovl/upper\n"
      "    workDir: /var/ovl/work\n"
      "    mountPoint: /etc\n"
      "    isInitrdOverlay: no\n"
      "output:\n"
      "  image:\n"
      "    cosi:\n"
      "      compression:\n"
      "        level: 22\n");
  const Node& users = get(cfg.root, {"os", "users"});
  const Node& uid = get(users.items[0], {"uid"});
  CHECK(uid.kind == Node::Kind::Int);
  CHECK(uid.i == 1000);
  CHECK(uid.str == "1000");
  CHECK(get(users.items[0], {"passwordExpiresDays"}).i == -1);
  CHECK(get(users.items[1], {"uid"}).i == 16);
  CHECK(get(users.items[1], {"uid"}).str == "0x10");
  const Node& update = get(cfg.root, {"os", "packages", "updateExistingPackages"});
  CHECK(update.kind == Node::Kind::Bool);
  CHECK(update.b);
  // YAML 1.1 words, which ALIC's YAML library accepts in bool fields.
  const Node& initrd = get(get(cfg.root, {"os", "overlays"}).items[0], {"isInitrdOverlay"});
  CHECK(initrd.kind == Node::Kind::Bool);
  CHECK_FALSE(initrd.b);
  CHECK(initrd.str == "no");
  CHECK(get(cfg.root, {"output", "image", "cosi", "compression", "level"}).i == 22);
}

TEST_CASE("config: null values and sections are absent, as in ALIC") {
  auto cfg = load(
      "os:\n"
      "storage: ~\n"
      "scripts:\n"
      "  postCustomization:\n"
      "previewFeatures: []\n"
      "output:\n"
      "  image:\n"
      "    path: null\n");
  CHECK(cfg.root.find("os") == nullptr);
  CHECK(cfg.root.find("storage") == nullptr);
  CHECK(get(cfg.root, {"scripts"}).fields.empty());
  CHECK(get(cfg.root, {"previewFeatures"}).kind == Node::Kind::Sequence);
  CHECK(get(cfg.root, {"previewFeatures"}).items.empty());
  CHECK(get(cfg.root, {"output", "image"}).fields.empty());
  // A document that is just "~" is an empty config; an empty file is not.
  CHECK(load("~\n").root.fields.empty());
  CHECK(problems("") == "cfg.yaml: the config file is empty");
  CHECK(problems("# only a comment\n") == "cfg.yaml: the config file is empty");
}

TEST_CASE("config: string-or-object fields come out in object form") {
  auto cfg = load(
      "previewFeatures: [input-image-oci]\n"
      "input:\n"
      "  image:\n"
      "    oci:\n"
      "      uri: registry.example.invalid/azurelinux/3.0/image/minimal-os:latest\n"
      "      platform: linux/arm64\n"
      "storage:\n"
      "  bootType: efi\n"
      "  disks:\n"
      "  - partitionTableType: gpt\n"
      "    maxSize: 4G\n"
      "    partitions:\n"
      "    - id: esp\n"
      "      type: esp\n"
      "      size: 8M\n"
      "    - id: root\n"
      "      size: grow\n"
      "  filesystems:\n"
      "  - deviceId: esp\n"
      "    type: fat32\n"
      "    mountPoint: /boot/efi\n"
      "  - deviceId: root\n"
      "    type: ext4\n"
      "    mountPoint:\n"
      "      path: /\n"
      "      idType: uuid\n"
      "os:\n"
      "  bootloader:\n"
      "    resetType: hard-reset\n");
  const Node& platform = get(cfg.root, {"input", "image", "oci", "platform"});
  CHECK(platform.kind == Node::Kind::Map);
  CHECK(get(platform, {"os"}).str == "linux");
  CHECK(get(platform, {"architecture"}).str == "arm64");
  const Node& filesystems = get(cfg.root, {"storage", "filesystems"});
  const Node& esp_mount = get(filesystems.items[0], {"mountPoint"});
  CHECK(esp_mount.kind == Node::Kind::Map);
  CHECK(get(esp_mount, {"path"}).str == "/boot/efi");
  CHECK(get(esp_mount, {"path"}).mark.line == 21);
  CHECK(get(filesystems.items[1], {"mountPoint", "idType"}).str == "uuid");

  auto scalar_oci = load(
      "previewFeatures: [input-image-oci]\n"
      "input:\n"
      "  image:\n"
      "    oci: registry.example.invalid/azurelinux/3.0/image/minimal-os:latest\n");
  CHECK(get(scalar_oci.root, {"input", "image", "oci", "uri"}).str ==
        "registry.example.invalid/azurelinux/3.0/image/minimal-os:latest");
}

struct InvalidCase {
  const char* name;
  const char* yaml;
  const char* expected;
};

// Each config has one problem (or a few); the whole message must match.
const InvalidCase kInvalid[] = {
#include "config/invalid_cases.inc"
};

TEST_CASE("config: invalid configs report exact problems with positions") {
  for (const InvalidCase& c : kInvalid) {
    CAPTURE(c.name);
    CHECK(problems(c.yaml) == c.expected);
  }
}

TEST_CASE("config: every problem is listed, in document order") {
  CHECK(problems("storage: []\n"
                 "previewFeatures: [nope]\n"
                 "os:\n"
                 "  hostname: bad_name\n"
                 "  users:\n"
                 "  - name: u\n"
                 "    uid: -1\n"
                 "  hostnme: x\n") ==
        "cfg.yaml:1:10: storage: expected a map\n"
        "cfg.yaml:2:19: previewFeatures[0]: invalid value 'nope': expected one of uki, output-artifacts, "
        "inject-files, reinitialize-verity, package-snapshot-time, kdump-boot-files, preview-distro-version, "
        "unsupported-distro-version, base-configs, input-image-oci, output-selinux-policy, btrfs, create, "
        "tools-dir, remove-package-manager\n"
        "cfg.yaml:4:13: os.hostname: invalid hostname 'bad_name': expected a DNS name of letters, digits, '-' "
        "and '.' (no '_')\n"
        "cfg.yaml:7:10: os.users[0].uid: -1 is out of range: expected 0 to 60000\n"
        "cfg.yaml:8:3: os.hostnme: unknown key (did you mean 'hostname'?)");
}

TEST_CASE("config: typo suggestions") {
  CHECK(config::edit_distance("hostnme", "hostname") == 1);
  CHECK(config::edit_distance("HostName", "hostname") == 0);
  CHECK(config::edit_distance("hsotname", "hostname") == 1);  // adjacent swap
  std::string_view keys[] = {"additionalFiles", "additionalDirs", "hostname"};
  CHECK(config::closest("additionalFile", keys) == "additionalFiles");
  CHECK(config::closest("additional_dirs", keys) == "additionalDirs");
  CHECK_FALSE(config::closest("users", keys).has_value());
  CHECK(problems("scripts:\n  postCustomisation: []\n") ==
        "cfg.yaml:2:3: scripts.postCustomisation: unknown key (did you mean 'postCustomization'?)");
  // A valid key at the wrong level points to where it belongs.
  CHECK(problems("hostname: a\n") == "cfg.yaml:1:1: hostname: unknown key (did you mean 'os.hostname'?)");
  // No guess when several places have that key.
  CHECK(problems("os:\n  name: a\n") == "cfg.yaml:2:3: os.name: unknown key");
}

TEST_CASE("config: duplicate keys") {
  CHECK(problems("os:\n  hostname: a\nos:\n  hostname: b\n") ==
        "cfg.yaml:3:1: os: duplicate key (first defined at line 1)");
  CHECK(problems("scripts:\n"
                 "  postCustomization:\n"
                 "  - content: env\n"
                 "    environmentVariables:\n"
                 "      A: 1\n"
                 "      A: 2\n") ==
        "cfg.yaml:6:7: scripts.postCustomization[0].environmentVariables.A: duplicate key (first defined at line 5)");
}

TEST_CASE("config: JSON input") {
  auto cfg = load(
      "{\n"
      "  \"os\": {\n"
      "\t\"hostname\": \"json-host\",\n"
      "    \"additionalFiles\": [{\"destination\": \"/etc/a\", \"content\": \"x\", \"permissions\": \"0640\"}]\n"
      "  },\n"
      "  \"previewFeatures\": [\"uki\"],\n"
      "  \"output\": {\"image\": {\"format\": \"raw\", \"cosi\": {\"compression\": {\"level\": 3}}}}\n"
      "}\n");
  CHECK(get(cfg.root, {"os", "hostname"}).str == "json-host");
  CHECK(get(cfg.root, {"os", "hostname"}).mark.line == 3);
  CHECK(get(get(cfg.root, {"os", "additionalFiles"}).items[0], {"permissions"}).str == "0640");
  CHECK(get(cfg.root, {"output", "image", "cosi", "compression", "level"}).i == 3);
  CHECK(problems("{\"os\": {\"hostname\": \"a\", \"users\": [{\"name\": \"u\", \"uid\": \"7\"}]}}") ==
        "cfg.yaml:1:57: os.users[0].uid: expected an integer");
}

TEST_CASE("config: YAML anchors and merge keys") {
  auto cfg = load(
      "scripts:\n"
      "  postCustomization:\n"
      "  - &common\n"
      "    interpreter: /bin/bash\n"
      "    content: echo one\n"
      "  - <<: *common\n"
      "    content: echo two\n");
  const Node& scripts = get(cfg.root, {"scripts", "postCustomization"});
  REQUIRE(scripts.items.size() == 2);
  CHECK(get(scripts.items[1], {"content"}).str == "echo two");
  CHECK(get(scripts.items[1], {"interpreter"}).str == "/bin/bash");
}

TEST_CASE("config: preview features gate their keys") {
  CHECK(problems("previewFeatures: [uki]\nos:\n  uki:\n    mode: create\n") == "OK");
  CHECK(problems("baseConfigs:\n- path: base.yaml\n") ==
        "cfg.yaml:1:1: baseConfigs: the 'base-configs' preview feature must be enabled to use 'baseConfigs'");
  CHECK(problems("storage:\n  verity:\n  - id: v\n    name: root\n    dataDevice: {idType: part-label, id: a}\n"
                 "    hashDevice: {idType: part-label, id: b}\n    hashSignaturePath: /boot/root.sig\n") ==
        "cfg.yaml:7:5: storage.verity[0].hashSignaturePath: the 'output-artifacts' preview feature must be "
        "enabled to use 'storage.verity.hashSignaturePath'");
  // An empty string is "unset" for ALIC and needs no feature.
  CHECK(problems("os:\n  packages:\n    snapshotTime: \"\"\n") == "OK");
  CHECK(problems("previewFeatures: [uki]\nos:\n  uki:\n    mode: passthrough\n  kernelCommandLine:\n"
                 "    extraCommandLine: [quiet]\n") ==
        "cfg.yaml:4:11: os.uki.mode: mode 'passthrough' cannot be combined with "
        "'os.kernelCommandLine.extraCommandLine' (use mode 'create' to rebuild the UKIs)");
}

TEST_CASE("config: unsupported_keys reports the outermost unsupported key once") {
  auto cfg = load(
      "previewFeatures: [input-image-oci]\n"
      "input:\n"
      "  image:\n"
      "    oci: registry.example.invalid/azurelinux/3.0/image/minimal-os:latest\n"
      "os:\n"
      "  hostname: h\n"
      "  packages:\n"
      "    install: [vim]\n"
      "  overlays:\n"
      "  - {mountPoint: /m, upperDir: /u, workDir: /w}\n"
      "  additionalFiles:\n"
      "  - destination: /a\n"
      "    content: a\n"
      "  kernelCommandLine:\n"
      "    extraCommandLine: [quiet]\n"
      "  bootloader:\n"
      "    resetType: hard-reset\n"
      "scripts:\n"
      "  postCustomization:\n"
      "  - content: echo\n"
      "    environmentVariables: {A: b}\n"
      "storage:\n"
      "  resetPartitionsUuidsType: reset-all\n"
      "output:\n"
      "  image:\n"
      "    format: cosi\n"
      "    cosi:\n"
      "      compression:\n"
      "        level: 9\n");
  auto keys = config::unsupported_keys(cfg);
  // Other os.* keys become supported as they are implemented; these stay unsupported.
  auto find = [&](std::string_view key) -> const config::Unsupported* {
    for (const auto& k : keys) {
      if (k.key == key) return &k;
    }
    return nullptr;
  };
  REQUIRE(find("input.image.oci") != nullptr);
  CHECK(find("input.image.oci")->mark.line == 4);
  CHECK(find("input.image.oci")->mark.column == 5);
  CHECK(find("input.image.oci")->path == "cfg.yaml");
  CHECK(find("os.overlays") == nullptr);
  CHECK(find("storage") == nullptr);
  CHECK(find("storage.resetPartitionsUuidsType") == nullptr);
  CHECK(find("output.image.cosi") == nullptr);
  for (std::string_view supported : {"os", "os.hostname", "os.additionalFiles", "os.kernelCommandLine", "scripts",
                                     "scripts.postCustomization", "previewFeatures", "input", "output.image.format"}) {
    CHECK_MESSAGE(find(supported) == nullptr, supported);
  }
  for (size_t i = 1; i < keys.size(); ++i) CHECK(keys[i - 1].mark.line < keys[i].mark.line);

  CHECK(config::unsupported_keys(load("os:\n  hostname: a\npreviewFeatures: [uki]\n")).empty());
  // A new layout (storage.disks, filesystems, bootType) is built.
  CHECK(config::unsupported_keys(load("storage:\n  bootType: efi\n  disks:\n  - partitionTableType: gpt\n"
                                      "    maxSize: 1G\n    partitions:\n    - {id: esp, type: esp, size: 8M}\n"
                                      "    - {id: root, size: grow}\n  filesystems:\n"
                                      "  - {deviceId: esp, type: fat32, mountPoint: {path: /boot/efi, options: umask=0077}}\n"
                                      "  - {deviceId: root, type: ext4, mountPoint: /}\n"
                                      "os:\n  bootloader:\n    resetType: hard-reset\n"))
            .empty());
}

TEST_CASE("config: load_file resolves the config directory") {
  TempDir d;
  const std::filesystem::path dir = d.path;
  const auto file = dir / "cfg.yaml";
  write_file(file, "os:\n  hostname: from-file\n");
  auto cfg = config::load_file(file.string());
  CHECK(cfg.path == file.string());
  CHECK(cfg.dir == dir.string());
  CHECK(get(cfg.root, {"os", "hostname"}).str == "from-file");

  write_file(file, "os:\n  hostname: a_b\n");
  try {
    config::load_file(file.string());
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Config);
    CHECK(std::string(e.what()) == file.string() +
                                       ":2:13: os.hostname: invalid hostname 'a_b': expected a DNS name of letters, "
                                       "digits, '-' and '.' (no '_')");
  }

  try {
    config::load_file((dir / "missing.yaml").string());
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Config);
    CHECK(std::string(e.what()) ==
          (dir / "missing.yaml").string() + ": cannot read config file: No such file or directory");
  }
}

TEST_CASE("config: YAML integers and Go path semantics") {
  CHECK(config::parse_yaml_int("42") == 42);
  CHECK(config::parse_yaml_int("-7") == -7);
  CHECK(config::parse_yaml_int("0x1F") == 31);
  CHECK(config::parse_yaml_int("0o17") == 15);
  CHECK(config::parse_yaml_int("017") == 15);  // Go's base-0 parse reads a leading 0 as octal
  CHECK(config::parse_yaml_int("1_000") == 1000);
  CHECK_FALSE(config::parse_yaml_int("1.0").has_value());
  CHECK_FALSE(config::parse_yaml_int("abc").has_value());
  CHECK_FALSE(config::parse_yaml_int("99999999999999999999").has_value());

  CHECK(config::clean_path("/boot//a/./b/../c/") == "/boot/a/c");
  CHECK(config::clean_path("a/../..") == "..");
  CHECK(config::is_local_path("scripts/a.sh"));
  CHECK(config::is_local_path("a/../b.sh"));
  CHECK_FALSE(config::is_local_path("a/../../b.sh"));
  CHECK_FALSE(config::is_local_path("/a.sh"));
}

TEST_CASE("config: inject-files.yaml loaded strictly, ALIC's gate and checks") {
  TempDir d;
  const auto file = (std::filesystem::path(d.path) / "inject-files.yaml").string();
  auto load_inject = [&](const std::string& text) {
    write_file(file, text);
    try {
      config::load_inject_files(file);
      return std::string("OK");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Config);
      return std::string(e.what());
    }
  };
  const std::string good =
      "injectFiles:\n"
      "    - partition:\n"
      "        idType: part-uuid\n"
      "        id: 9216e49d-f26f-453b-89cb-c6bf5b7e5394\n"
      "      destination: /EFI/BOOT/bootx64.efi\n"
      "      source: ./shim/bootx64.efi\n"
      "      type: shim\n"
      "previewFeatures:\n"
      "    - inject-files\n";
  CHECK(load_inject(good) == "OK");
  write_file(file, good);
  Node n = config::load_inject_files(file);
  CHECK(get(n, {"injectFiles"}).items.size() == 1);
  CHECK(get(n.find("injectFiles")->items[0], {"partition", "id"}).str == "9216e49d-f26f-453b-89cb-c6bf5b7e5394");
  // ALIC's defaults: idType may be left out (part-uuid), type is informational.
  CHECK(load_inject("injectFiles:\n- partition: {id: x}\n  destination: /a\n  source: b\n"
                    "previewFeatures: [inject-files]\n") == "OK");
  CHECK(load_inject("injectFiles: []\n") ==
        file + ":1:1: previewFeatures: the 'inject-files' feature is currently in preview; please add "
               "'inject-files' to 'previewFeatures' to enable it");
  CHECK(load_inject("injectFiles:\n- partition: {id: x, idType: label}\n  destination: /a\n  source: b\n"
                    "previewFeatures: [inject-files]\n")
            .find(file + ":2:30: injectFiles[0].partition.idType: invalid value 'label'") == 0);
  CHECK(load_inject("injectFiles:\n- partition: {id: x}\n  destination: a\n  source: b\n"
                    "previewFeatures: [inject-files]\n") ==
        file + ":3:16: injectFiles[0].destination: invalid path 'a': must be absolute");
  CHECK(load_inject("injectFiles:\n- partition: {id: x}\n  source: b\n  type: uki-addons\n"
                    "previewFeatures: [inject-files]\n")
            == file + ":2:3: injectFiles[0]: missing required key 'destination'");
  CHECK(load_inject("injectFiles:\n- partition: {id: x}\n  destination: /a\n  source: b\n  extra: 1\n"
                    "previewFeatures: [inject-files]\n")
            .find(file + ":5:3: injectFiles[0]") == 0);
}
