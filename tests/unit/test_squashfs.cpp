// fs/squashfs: mksquashfs/unsquashfs argument sets (pure), the listing
// parser, and real images of small trees read back (no root needed: user.*
// extended attributes only; security.* is in tests/integration/test_iso_primitives.sh).
#include <doctest.h>

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "host/fs/squashfs.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

std::size_t index_of(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), s) - v.begin());
}

bool has(const std::vector<std::string>& v, const std::string& s) { return index_of(v, s) < v.size(); }

const squashfs::Entry* find(const std::vector<squashfs::Entry>& es, const std::string& path) {
  for (const auto& e : es)
    if (e.path == path) return &e;
  return nullptr;
}

std::string xattr_of(const std::string& path, const char* name) {
  char buf[256];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

TEST_CASE("squashfs: mksquashfs arguments") {
  squashfs::CreateOptions o;
  auto a = squashfs::create_command("/src", "/out.img", o);
  CHECK(a[0] == "mksquashfs");
  CHECK(a[1] == "/src");
  CHECK(a[2] == "/out.img");
  CHECK(has(a, "-noappend"));
  CHECK(a[index_of(a, "-comp") + 1] == "zstd");
  CHECK(has(a, "-xattrs"));
  CHECK(has(a, "-exit-on-error"));
  CHECK_FALSE(has(a, "-e"));
  CHECK_FALSE(has(a, "-mkfs-time"));
  CHECK_FALSE(has(a, "-processors"));

  o.level = 19;
  o.block_size = 1 << 20;
  o.xattrs = false;
  o.timestamp = 1700000000;
  o.processors = 2;
  o.one_file_system = true;
  o.exclude = {"/proc/*", "var/cache/apt/*.bin", "//tmp/*"};
  a = squashfs::create_command("/src", "/out.img", o);
  CHECK(a[index_of(a, "-Xcompression-level") + 1] == "19");
  CHECK(a[index_of(a, "-b") + 1] == "1048576");
  CHECK(has(a, "-no-xattrs"));
  CHECK_FALSE(has(a, "-xattrs"));
  CHECK(a[index_of(a, "-mkfs-time") + 1] == "1700000000");
  CHECK(a[index_of(a, "-all-time") + 1] == "1700000000");
  CHECK(a[index_of(a, "-processors") + 1] == "2");
  CHECK(has(a, "-one-file-system"));
  // -e takes every argument after it: it comes last, relative patterns.
  std::size_t e = index_of(a, "-e");
  REQUIRE(e + 4 == a.size());
  CHECK(a[e - 1] == "-wildcards");
  CHECK(a[e + 1] == "proc/*");
  CHECK(a[e + 2] == "var/cache/apt/*.bin");
  CHECK(a[e + 3] == "tmp/*");
}

TEST_CASE("squashfs: bad options are usage errors") {
  auto usage = [](squashfs::CreateOptions o) {
    try {
      squashfs::create_command("/s", "/o", o);
    } catch (const Error& e) {
      return e.kind() == ErrorKind::Usage;
    }
    return false;
  };
  squashfs::CreateOptions o;
  o.compression = "brotli";
  CHECK(usage(o));
  o = {};
  o.level = 23;
  CHECK(usage(o));
  o = {};
  o.compression = "lz4";
  o.level = 3;
  CHECK(usage(o));
  o = {};
  o.block_size = 3000;
  CHECK(usage(o));
  o = {};
  o.timestamp = -1;
  CHECK(usage(o));
  o = {};
  o.timestamp = 0x100000000ll;
  CHECK(usage(o));
  o = {};
  o.exclude = {"/"};
  CHECK(usage(o));
  o = {};
  o.exclude = {"a\nb"};
  CHECK(usage(o));
}

TEST_CASE("squashfs: unsquashfs -lln listing is parsed") {
  const std::string text =
      "drwxr-xr-x 0/0                      48 1970-01-12 13:46 \n"
      "drwxr-xr-x 0/0                      58 1970-01-12 13:46 /a\n"
      "-rwsr-xr-x 0/0                     123 1970-01-12 13:46 /a/su\n"
      "crw-r--r-- 0/5                   1,  3 1970-01-12 13:46 /a/null\n"
      "-rw-r----- 1000/1001                 6 2023-11-14 22:13 /a/we 'q\n"
      "lrwxrwxrwx 0/0                       3 1970-01-12 13:46 /link -> a/f\n"
      "drwxrwxrwt 0/0                       3 1970-01-12 13:46 /tmp\n";
  auto es = squashfs::parse_listing(text);
  REQUIRE(es.size() == 7);
  CHECK(es[0].path == "/");
  CHECK(es[0].type == 'd');
  CHECK(es[0].mode == 0755);
  CHECK(es[2].mode == 04755);
  CHECK(es[2].size == 123);
  CHECK(es[3].type == 'c');
  CHECK(es[3].gid == 5);
  CHECK(es[3].size == 0);
  CHECK(es[4].path == "/a/we 'q");
  CHECK(es[4].uid == 1000);
  CHECK(es[4].gid == 1001);
  CHECK(es[4].mode == 0640);
  CHECK(es[4].mtime == "2023-11-14 22:13");
  CHECK(es[5].type == 'l');
  CHECK(es[5].path == "/link");
  CHECK(es[5].link_target == "a/f");
  CHECK(es[6].mode == 01777);
}

TEST_CASE("squashfs: a tree made and read back: files, symlinks, xattrs, exclusions, reproducible") {
  TempDir t;
  std::string src = t / "src";
  write_file(src + "/etc/hostname", "sq-test\n");
  write_file(src + "/proc/self", "gone");
  write_file(src + "/var/cache/x.bin", "gone");
  write_file(src + "/var/cache/keep", "kept");
  write_file(src + "/a name/with 'quote'", "q");
  std::filesystem::create_symlink("../etc/hostname", src + "/var/link");
  REQUIRE(::chmod((src + "/etc/hostname").c_str(), 0640) == 0);
  bool xattrs = ::lsetxattr((src + "/etc/hostname").c_str(), "user.imgrecipe", "kept", 4, 0) == 0;

  squashfs::CreateOptions o;
  o.exclude = {"/proc/*", "var/cache/*.bin"};
  o.timestamp = 1700000000;
  o.processors = 1;
  std::string img = t / "out/root.squashfs";
  squashfs::create(src, img, o);
  CHECK(std::filesystem::is_regular_file(img));
  CHECK(std::filesystem::directory_iterator(t / "out")->path().filename() == "root.squashfs");  // no temporary left

  auto es = squashfs::list(img);
  REQUIRE(find(es, "/etc/hostname") != nullptr);
  CHECK(find(es, "/etc/hostname")->mode == 0640);
  CHECK(find(es, "/etc/hostname")->size == 8);
  CHECK(find(es, "/etc/hostname")->mtime == "2023-11-14 22:13");
  CHECK(find(es, "/proc") != nullptr);
  CHECK(find(es, "/proc/self") == nullptr);
  CHECK(find(es, "/var/cache/x.bin") == nullptr);
  CHECK(find(es, "/var/cache/keep") != nullptr);
  CHECK(find(es, "/a name/with 'quote'") != nullptr);
  REQUIRE(find(es, "/var/link") != nullptr);
  CHECK(find(es, "/var/link")->link_target == "../etc/hostname");

  std::string img2 = t / "again.squashfs";
  squashfs::create(src, img2, o);
  CHECK(read_file(img) == read_file(img2));

  std::string x = t / "x";
  squashfs::ExtractOptions xo;
  xo.paths = {"/etc/hostname"};
  squashfs::extract(img, x, xo);
  CHECK(read_file(x + "/etc/hostname") == "sq-test\n");
  CHECK((lstat_of(x + "/etc/hostname").st_mode & 07777) == 0640);
  CHECK_FALSE(std::filesystem::exists(x + "/var"));
  if (xattrs) CHECK(xattr_of(x + "/etc/hostname", "user.imgrecipe") == "kept");

  SUBCASE("extracting into an existing path, or a path the image lacks, is refused") {
    CHECK_THROWS_WITH_AS(squashfs::extract(img, x, {}), doctest::Contains("already exists"), Error);
    xo.paths = {"/etc/missing"};
    CHECK_THROWS_WITH_AS(squashfs::extract(img, t / "y", xo), doctest::Contains("has no /etc/missing"), Error);
    CHECK_FALSE(std::filesystem::exists(t / "y"));
  }
}

TEST_CASE("squashfs: errors name the source, and nothing is left behind") {
  TempDir t;
  CHECK_THROWS_WITH_AS(squashfs::create(t / "missing", t / "o.img", {}), doctest::Contains((t / "missing").c_str()), Error);
  write_file(t / "file", "x");
  CHECK_THROWS_WITH_AS(squashfs::create(t / "file", t / "o.img", {}), doctest::Contains("is not a directory"), Error);
  CHECK_FALSE(std::filesystem::exists(t / "o.img"));
  CHECK_THROWS_AS(squashfs::list(t / "file"), Error);

  SUBCASE("squashfs-tools missing") {
    std::string saved = std::getenv("PATH");
    TempDir empty;
    ::setenv("PATH", empty.path.c_str(), 1);
    std::filesystem::create_directories(t / "src");
    Error err(ErrorKind::Internal, "");
    try {
      squashfs::create(t / "src", t / "o.img", {});
    } catch (const Error& e) {
      err = e;
    }
    ::setenv("PATH", saved.c_str(), 1);
    CHECK(err.kind() == ErrorKind::Unsupported);
    CHECK(std::string(err.what()).find("Debian package squashfs-tools") != std::string::npos);
    CHECK(std::distance(std::filesystem::directory_iterator(t.path), {}) == 2);  // file, src
  }
}
