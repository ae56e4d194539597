// fs/cpio_read: a tree written by cpio_image::create read back (modes,
// owners, times, symlinks, hard links, fifos, holes), concatenated segments
// (an uncompressed cpio then a zstd one), and hostile archives: names with
// "..", absolute names, a symlinked parent pointing out of the root,
// truncated and corrupt data, other compressions.
#include <doctest.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zstd.h>

#include <filesystem>
#include <string>

#include "host/fs/cpio_image.hpp"
#include "host/fs/cpio_read.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

// One newc entry (header, name, content, padding).
std::string entry(const std::string& name, std::uint32_t mode, const std::string& data, std::uint32_t ino = 1,
                  std::uint32_t nlink = 1, std::uint32_t uid = 0, std::uint32_t gid = 0) {
  std::string e = cpio_image::newc_header(name, ino, mode, uid, gid, nlink, 1600000000, data.size(), 0, 0);
  e += name;
  e.push_back('\0');
  while (e.size() % 4) e.push_back('\0');
  e += data;
  while (e.size() % 4) e.push_back('\0');
  return e;
}

std::string trailer() { return entry("TRAILER!!!", 0, ""); }

std::string zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  REQUIRE(!ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::string error_of(const std::string& archive, const std::string& root) {
  try {
    cpio_read::extract(archive, root);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("cpio_read: round trip with cpio_image::create") {
  TempDir t;
  std::string src = t / "src";
  write_file(src + "/etc/hostname", "live\n");
  write_file(src + "/usr/bin/tool", "#!/bin/sh\n");
  write_file(src + "/var/lib/sparse", "");
  write_file(src + "/lost+found/.keep", "");
  std::filesystem::create_directories(src + "/proc");
  REQUIRE(::truncate((src + "/var/lib/sparse").c_str(), 8 << 20) == 0);
  {
    std::FILE* f = std::fopen((src + "/var/lib/sparse").c_str(), "r+");
    REQUIRE(f != nullptr);
    std::fseek(f, 4 << 20, SEEK_SET);
    std::fputs("middle", f);
    std::fclose(f);
  }
  REQUIRE(::chmod((src + "/usr/bin/tool").c_str(), 04750) == 0);
  REQUIRE(::chmod((src + "/proc").c_str(), 0555) == 0);
  REQUIRE(::symlink("../usr/bin/tool", (src + "/etc/link").c_str()) == 0);
  REQUIRE(::link((src + "/etc/hostname").c_str(), (src + "/etc/hostname2").c_str()) == 0);
  REQUIRE(::mkfifo((src + "/etc/fifo").c_str(), 0640) == 0);
  bool root = ::geteuid() == 0;
  if (root) {
    REQUIRE(::chown((src + "/etc/hostname").c_str(), 1234, 5678) == 0);
    REQUIRE(::mknod((src + "/etc/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    REQUIRE(::chmod((src + "/etc/null").c_str(), 0666) == 0);  // not the umask's
  }
  cpio_image::CreateOptions o;
  o.timestamp = 1500000000;
  o.add_symlinks = {{"init", "/lib/systemd/systemd"}};
  std::string img = t / "initrd.img";
  auto written = cpio_image::create(src, img, o);

  auto scanned = cpio_read::scan(img);
  CHECK(scanned.entries == written.entries);
  CHECK(scanned.bytes == written.bytes);

  std::string dst = t / "dst";
  std::filesystem::create_directories(dst + "/lost+found");  // as on a fresh ext4
  REQUIRE(::chmod(dst.c_str(), 0711) == 0);
  auto got = cpio_read::extract(img, dst);
  CHECK(got.entries == written.entries);
  CHECK(read_file(dst + "/etc/hostname") == "live\n");
  CHECK(lstat_of(dst + "/usr/bin/tool").st_mode == (S_IFREG | 04750));
  CHECK(lstat_of(dst + "/proc").st_mode == (S_IFDIR | 0555));
  CHECK(lstat_of(dst + "/etc/fifo").st_mode == (S_IFIFO | 0640));
  CHECK(std::filesystem::read_symlink(dst + "/etc/link") == "../usr/bin/tool");
  CHECK(std::filesystem::read_symlink(dst + "/init") == "/lib/systemd/systemd");
  CHECK(lstat_of(dst + "/etc/hostname").st_ino == lstat_of(dst + "/etc/hostname2").st_ino);
  CHECK(lstat_of(dst + "/etc/hostname").st_nlink == 2);
  CHECK(lstat_of(dst + "/etc/hostname").st_mtime == 1500000000);
  CHECK(lstat_of(dst + "/etc").st_mtime == 1500000000);  // set after its entries
  CHECK(lstat_of(dst + "/etc/link").st_mtime == 1500000000);
  CHECK(read_file(dst + "/var/lib/sparse").size() == (8u << 20));
  CHECK(read_file(dst + "/var/lib/sparse").substr(4 << 20, 6) == "middle");
  CHECK(allocated(dst + "/var/lib/sparse") < (1u << 20));  // holes stay holes
  CHECK(lstat_of(dst).st_mode == (S_IFDIR | 0711));  // the root keeps its own
  if (root) {
    CHECK(lstat_of(dst + "/etc/hostname").st_uid == 1234);
    CHECK(lstat_of(dst + "/etc/hostname").st_gid == 5678);
    CHECK(lstat_of(dst + "/etc/null").st_mode == (S_IFCHR | 0666));
    CHECK(lstat_of(dst + "/etc/null").st_rdev == makedev(1, 3));
  }
}

TEST_CASE("cpio_read: an uncompressed cpio, padding, then a zstd one (early microcode + main)") {
  TempDir t;
  std::string early = entry("kernel", S_IFDIR | 0755, "") + entry("kernel/x86", S_IFDIR | 0755, "") +
                      entry("kernel/x86/GenuineIntel.bin", S_IFREG | 0644, "ucode") + trailer();
  early += std::string(512 - early.size() % 512, '\0');
  std::string main = entry("etc", S_IFDIR | 0755, "") + entry("etc/os-release", S_IFREG | 0644, "ID=x\n") + trailer();
  // Two archives in one zstd stream, as two frames.
  std::string second = entry("etc/two", S_IFREG | 0600, "2") + trailer();
  write_file(t / "initrd", early + zstd(main) + zstd(second));
  std::string dst = t / "dst";
  std::filesystem::create_directories(dst);
  auto s = cpio_read::extract(t / "initrd", dst);
  CHECK(s.entries == 6);
  CHECK(read_file(dst + "/kernel/x86/GenuineIntel.bin") == "ucode");
  CHECK(read_file(dst + "/etc/os-release") == "ID=x\n");
  CHECK(read_file(dst + "/etc/two") == "2");
  // Hard links in GNU cpio's order: the content with the last name.
  std::string gnu = entry("a", S_IFREG | 0644, "", 9, 2) + entry("b", S_IFREG | 0644, "data", 9, 2) + trailer();
  write_file(t / "gnu", zstd(gnu));
  std::string g = t / "g";
  std::filesystem::create_directories(g);
  cpio_read::extract(t / "gnu", g);
  CHECK(read_file(g + "/a") == "data");
  CHECK(lstat_of(g + "/a").st_ino == lstat_of(g + "/b").st_ino);
}

TEST_CASE("cpio_read: hostile names stay in the root or are refused") {
  TempDir t;
  std::string dst = t / "root";
  std::filesystem::create_directories(dst);
  std::filesystem::create_directories(t / "outside");
  // "..": refused, naming the offset (the second entry starts at 116).
  write_file(t / "dotdot", entry("etc", S_IFDIR | 0755, "") + entry("../outside/x", S_IFREG | 0644, "x") + trailer());
  std::string e = error_of(t / "dotdot", dst);
  CHECK(e.find("offset 116") != std::string::npos);
  CHECK(e.find("'..'") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(t / "outside/x"));
  // An absolute name is a path in the root.
  write_file(t / "abs", entry("/abs", S_IFREG | 0644, "in") + trailer());
  cpio_read::extract(t / "abs", dst);
  CHECK(read_file(dst + "/abs") == "in");
  // A symlinked parent that points out of the root: resolved inside it.
  std::string out = t / "outside";
  std::filesystem::create_directories(dst + out);
  write_file(t / "link", entry("esc", S_IFLNK | 0777, out) + entry("esc/file", S_IFREG | 0644, "trapped") +
                             entry("up", S_IFLNK | 0777, "../../../..") + entry("up/file2", S_IFREG | 0644, "t2") +
                             trailer());
  cpio_read::extract(t / "link", dst);
  CHECK_FALSE(std::filesystem::exists(out + "/file"));
  CHECK(read_file(dst + out + "/file") == "trapped");
  CHECK(read_file(dst + "/file2") == "t2");
  // A symlink leaf is replaced, not written through.
  write_file(t / "leaf", entry("l", S_IFLNK | 0777, out + "/victim") + entry("l", S_IFREG | 0644, "new") + trailer());
  cpio_read::extract(t / "leaf", dst);
  CHECK_FALSE(std::filesystem::exists(out + "/victim"));
  CHECK(read_file(dst + "/l") == "new");
}

TEST_CASE("cpio_read: malformed and truncated archives are refused with the offset") {
  TempDir t;
  std::string dst = t / "root";
  std::filesystem::create_directories(dst);
  std::string good = entry("etc", S_IFDIR | 0755, "") + entry("etc/f", S_IFREG | 0644, "0123456789") + trailer();
  // Truncated inside the second entry's content.
  write_file(t / "trunc", good.substr(0, 116 + 112 + 4));
  std::string e = error_of(t / "trunc", dst);
  CHECK(e.find("truncated file content") != std::string::npos);
  CHECK(e.find("offset 116") == std::string::npos);  // the content's offset, not the header's
  // Truncated zstd stream.
  std::string z = zstd(good);
  write_file(t / "ztrunc", z.substr(0, z.size() / 2));
  CHECK(error_of(t / "ztrunc", dst).find("zstd stream at offset 0") != std::string::npos);
  // Corrupt zstd data.
  std::string bad = z;
  for (std::size_t i = 8; i < bad.size() - 4; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
  write_file(t / "zbad", bad);
  CHECK(error_of(t / "zbad", dst).find("zstd stream at offset 0") != std::string::npos);
  // Bad magic and a non-hex field.
  std::string m = good;
  m[116 + 3] = 'X';
  write_file(t / "magic", m);
  e = error_of(t / "magic", dst);
  CHECK(e.find("offset 116") != std::string::npos);
  CHECK(e.find("bad header magic") != std::string::npos);
  std::string h = good;
  h[116 + 6 + 8 * 6] = 'g';  // the size field
  write_file(t / "hex", h);
  CHECK(error_of(t / "hex", dst).find("not hexadecimal") != std::string::npos);
  // A huge name size.
  std::string n = good;
  n.replace(116 + 6 + 8 * 11, 8, "00FFFFFF");
  write_file(t / "name", n);
  CHECK(error_of(t / "name", dst).find("name size") != std::string::npos);
  // No trailer: truncated header.
  write_file(t / "notrailer", zstd(good.substr(0, good.size() - trailer().size())));
  CHECK(error_of(t / "notrailer", dst).find("truncated header") != std::string::npos);
  // Other compressions and garbage are named; an empty file is refused.
  write_file(t / "gz", std::string("\x1f\x8b\x08\x00junk", 8));
  CHECK(error_of(t / "gz", dst).find("gzip") != std::string::npos);
  write_file(t / "empty", std::string(1024, '\0'));
  CHECK(error_of(t / "empty", dst).find("empty") != std::string::npos);
  // A directory with content and an unknown type.
  write_file(t / "dirdata", entry("d", S_IFDIR | 0755, "x") + trailer());
  CHECK(error_of(t / "dirdata", dst).find("content") != std::string::npos);
  write_file(t / "type", entry("d", 0170644, "") + trailer());
  CHECK(error_of(t / "type", dst).find("unknown file type") != std::string::npos);
  // scan finds the same errors without writing.
  CHECK_THROWS_AS(cpio_read::scan(t / "trunc"), Error);
}
