// fs/cpio_image: the newc header, the exclusion patterns, and a real
// archive of a small tree decompressed (zstd) and parsed back: names in
// order, modes, symlink targets, hard links sharing an inode with the
// content stored once, excluded contents, the added /init link.
#include <doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "host/fs/cpio_image.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

struct Rec {
  std::uint32_t ino = 0, mode = 0, nlink = 0;
  std::string data;
};

// name -> record, in archive order (names vector).
std::map<std::string, Rec> parse(const std::string& d, std::vector<std::string>& names) {
  std::map<std::string, Rec> out;
  std::size_t o = 0;
  auto hex = [&](std::size_t at) { return static_cast<std::uint32_t>(std::stoul(d.substr(at, 8), nullptr, 16)); };
  while (o + 110 <= d.size()) {
    REQUIRE(d.compare(o, 6, "070701") == 0);
    Rec r;
    r.ino = hex(o + 6);
    r.mode = hex(o + 14);
    r.nlink = hex(o + 38);
    std::uint32_t size = hex(o + 54), namesize = hex(o + 94);
    std::string name = d.substr(o + 110, namesize - 1);
    o = (o + 110 + namesize + 3) & ~std::size_t{3};
    r.data = d.substr(o, size);
    o = (o + size + 3) & ~std::size_t{3};
    if (name == "TRAILER!!!") break;
    names.push_back(name);
    out[name] = r;
  }
  return out;
}

}  // namespace

TEST_CASE("cpio_image: newc header") {
  std::string h = cpio_image::newc_header("etc", 7, 040755, 0, 0, 2, 0x10, 0, 0, 0);
  CHECK(h.size() == 110);
  CHECK(h.substr(0, 6) == "070701");
  CHECK(h.substr(6, 8) == "00000007");
  CHECK(h.substr(14, 8) == "000041ED");
  CHECK(h.substr(94, 8) == "00000004");  // "etc" and its NUL
  CHECK_THROWS_AS(cpio_image::newc_header("big", 1, 0100644, 0, 0, 1, 0, 1ull << 32, 0, 0), Error);
}

TEST_CASE("cpio_image: exclusions match per component") {
  std::vector<std::string> p = {"boot/*", "proc/*", "x/a\\*b"};
  CHECK(cpio_image::excluded("boot/vmlinuz", p));
  CHECK(cpio_image::excluded("boot/.hidden", p));
  CHECK_FALSE(cpio_image::excluded("boot", p));
  CHECK_FALSE(cpio_image::excluded("bootx/y", p));
  CHECK(cpio_image::excluded("x/a*b", p));
  CHECK_FALSE(cpio_image::excluded("x/aXb", p));
}

TEST_CASE("cpio_image: a tree read back") {
  if (std::system("command -v zstd >/dev/null 2>&1") != 0) return;
  TempDir t;
  std::string src = t / "root";
  write_file(src + "/etc/hostname", "live\n");
  write_file(src + "/boot/vmlinuz-1", "kernel");
  write_file(src + "/boot/keep.img", "kdump");
  write_file(src + "/usr/bin/tool", "#!/bin/sh\n");
  std::filesystem::create_directories(src + "/proc/1");
  REQUIRE(::chmod((src + "/usr/bin/tool").c_str(), 0750) == 0);
  REQUIRE(::symlink("../usr/bin/tool", (src + "/etc/link").c_str()) == 0);
  REQUIRE(::link((src + "/etc/hostname").c_str(), (src + "/etc/hostname2").c_str()) == 0);
  cpio_image::CreateOptions o;
  o.exclude = {"/proc/*", "/boot/vmlinuz-1"};
  o.add_symlinks = {{"init", "/lib/systemd/systemd"}, {"etc/link", "/not-used"}};
  o.timestamp = 1700000000;
  std::string out = t / "initrd.img";
  auto stats = cpio_image::create(src, out, o);
  CHECK(stats.bytes == 5 + 5 + 10);  // hostname once, keep.img, tool
  REQUIRE(std::system(("zstd -q -d -c " + out + " > " + t / "raw").c_str()) == 0);
  std::vector<std::string> names;
  auto m = parse(read_file(t / "raw"), names);
  CHECK(names.front() == ".");
  CHECK((m["."].mode & 07777) == 0755);
  CHECK(m.count("proc") == 1);
  CHECK(m.count("proc/1") == 0);
  CHECK(m.count("boot/vmlinuz-1") == 0);
  CHECK(m["boot/keep.img"].data == "kdump");
  CHECK(m["usr/bin/tool"].mode == (S_IFREG | 0750));
  CHECK(S_ISLNK(m["etc/link"].mode));
  CHECK(m["etc/link"].data == "../usr/bin/tool");  // the tree's own link, not the added one
  CHECK(S_ISLNK(m["init"].mode));
  CHECK(m["init"].data == "/lib/systemd/systemd");
  CHECK(m["etc/hostname"].ino == m["etc/hostname2"].ino);
  CHECK(m["etc/hostname"].nlink == 2);
  CHECK(m["etc/hostname"].data + m["etc/hostname2"].data == "live\n");  // content stored once
  // Reproducible: the same tree gives the same bytes.
  cpio_image::create(src, t / "again.img", o);
  CHECK(read_file(out) == read_file(t / "again.img"));
  // No temporary left beside the output.
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(t.path)) n += e.path().filename().string()[0] == '.';
  CHECK(n == 0);
}
