// inspect: the pure parsers of OS facts (os-release, passwd, dpkg status,
// grub.cfg, loader entries, UKI PE sections), the View's symlink resolution
// over a fake tree, and the JSON Schema of the config.
#include <doctest.h>

#include <map>

#include "host/config/json_schema.hpp"
#include "host/inspect/os.hpp"
#include "host/inspect/tree.hpp"

using namespace imgrecipe;
using namespace imgrecipe::inspect;

TEST_CASE("inspect: os-release, passwd and dpkg status") {
  auto rel = parse_os_release("# c\nNAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID='12'\nBAD\n");
  CHECK(rel["NAME"] == "Debian GNU/Linux");
  CHECK(rel["ID"] == "debian");
  CHECK(rel["VERSION_ID"] == "12");
  CHECK(rel.count("BAD") == 0);

  auto users = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbroken:x\nu:x:1234:100::/home/u:/bin/sh\n");
  REQUIRE(users.size() == 2);
  CHECK(users[1].name == "u");
  CHECK(users[1].uid == 1234);
  CHECK(users[1].gid == 100);
  CHECK(users[1].shell == "/bin/sh");

  auto pkgs = parse_dpkg_status(
      "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\nDescription: x\n y\n\n"
      "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
      "Package: bash\nStatus: install ok installed\nVersion: 5.2\nArchitecture: amd64\n");
  REQUIRE(pkgs.size() == 2);
  CHECK(pkgs[0].name == "bash");  // sorted
  CHECK(pkgs[1].version == "1:1.2.13");
}

TEST_CASE("inspect: grub.cfg and loader entries") {
  auto entries = parse_grub_cfg(
      "menuentry 'Debian' --class debian {\n\tlinux\t/boot/vmlinuz-6.1 root=UUID=x ro quiet\n}\n"
      "submenu 'Advanced' {\n  menuentry \"Rescue\" {\n    linuxefi /vmlinuz-5 single\n  }\n}\n"
      "# linux /not/an/entry\n");
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].title == "Debian");
  CHECK(entries[0].kernel == "/boot/vmlinuz-6.1");
  CHECK(entries[0].cmdline == "root=UUID=x ro quiet");
  CHECK(entries[1].title == "Rescue");
  CHECK(entries[1].cmdline == "single");

  auto e = parse_loader_entry("title Azure Linux\nlinux /vmlinuz-6.6\noptions root=PARTUUID=a ro\noptions console=ttyS0\n");
  CHECK(e.title == "Azure Linux");
  CHECK(e.kernel == "/vmlinuz-6.6");
  CHECK(e.cmdline == "root=PARTUUID=a ro console=ttyS0");
}

TEST_CASE("inspect: a UKI's .cmdline PE section") {
  // A minimal PE: DOS header pointing at "PE\0\0", a COFF header with two
  // sections and no optional header, the section table, then the data.
  std::string pe(0x200, '\0');
  pe[0] = 'M', pe[1] = 'Z';
  pe[0x3c] = 0x40;
  pe.replace(0x40, 4, std::string("PE\0\0", 4));
  pe[0x40 + 6] = 2;  // sections
  auto section = [&](size_t at, const char* name, std::uint32_t size, std::uint32_t off) {
    pe.replace(at, std::string(name).size(), name);
    for (int i = 0; i < 4; ++i) {
      pe[at + 8 + i] = static_cast<char>(size >> (8 * i));
      pe[at + 16 + i] = static_cast<char>(size >> (8 * i));
      pe[at + 20 + i] = static_cast<char>(off >> (8 * i));
    }
  };
  section(0x58, ".uname", 6, 0x100);
  section(0x80, ".cmdline", 12, 0x140);
  pe.replace(0x100, 6, "6.6.1a");
  pe.replace(0x140, 12, "root=x ro\n\0\0");
  CHECK(pe_section(pe, ".cmdline") == "root=x ro");
  CHECK(pe_section(pe, ".uname") == "6.6.1a");
  CHECK(pe_section(pe, ".osrel") == "");
  CHECK(pe_section("not a PE", ".cmdline") == "");
}

namespace {
class FakeTree : public Tree {
 public:
  std::map<std::string, Stat> entries;
  std::map<std::string, std::string> files;
  Stat lstat(const std::string& p) override {
    auto it = entries.find(p);
    return it == entries.end() ? Stat{} : it->second;
  }
  std::optional<std::string> read(const std::string& p) override {
    auto it = files.find(p);
    if (it == files.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> list(const std::string&) override { return {}; }
  void file(const std::string& p, const std::string& text) {
    entries[p] = {Stat::Kind::File, {}, text.size()};
    files[p] = text;
  }
  void dir(const std::string& p) { entries[p] = {Stat::Kind::Dir, {}, 0}; }
  void link(const std::string& p, const std::string& t) { entries[p] = {Stat::Kind::Link, t, 0}; }
};
}  // namespace

TEST_CASE("inspect: View resolves symlinks inside the image, across mounts") {
  FakeTree root, boot;
  root.dir("/etc");
  root.dir("/usr");
  root.dir("/usr/lib");
  root.dir("/boot");
  root.file("/usr/lib/os-release", "ID=x\n");
  root.link("/etc/os-release", "../usr/lib/os-release");
  root.link("/lib", "usr/lib");
  root.link("/escape", "../../../../etc/shadow-on-host");
  root.link("/loop", "/loop");
  root.link("/etc/grub.cfg", "/boot/grub/grub.cfg");
  boot.dir("/grub");
  boot.file("/grub/grub.cfg", "menu");
  View v;
  v.mount("/", &root);
  v.mount("/boot", &boot);
  CHECK(v.read("/etc/os-release") == std::optional<std::string>("ID=x\n"));
  CHECK(v.resolve("/lib/os-release") == std::optional<std::string>("/usr/lib/os-release"));
  CHECK(v.read("/etc/grub.cfg") == std::optional<std::string>("menu"));  // on the /boot filesystem
  // ".." stops at the image's root: never a host path.
  root.file("/etc/shadow-on-host", "inside");
  CHECK(v.read("/escape") == std::optional<std::string>("inside"));
  CHECK(v.resolve("/loop") == std::nullopt);
  CHECK(v.stat("/boot/grub").kind == Stat::Kind::Dir);
}

TEST_CASE("schema: the JSON Schema is generated from the tables") {
  std::string s = config::json_schema();
  CHECK(s.find("\"$schema\": \"https://json-schema.org/draft/2020-12/schema\"") != std::string::npos);
  CHECK(s.find("\"hostname\": {") != std::string::npos);
  CHECK(s.find("\"description\": \"Host name of the image.\"") != std::string::npos);
  CHECK(s.find("\"additionalProperties\": false") != std::string::npos);
  CHECK(s.find("\"enum\": [\"part-uuid\", \"uuid\", \"part-label\", \"\", null]") != std::string::npos);
  CHECK(s.find("Needs previewFeatures: uki.") != std::string::npos);
  CHECK(s.back() == '\n');
}
