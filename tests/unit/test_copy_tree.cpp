// fs/copy_tree: additionalDirs copies into an image root (any directory can
// serve as a root): modes, merging, nesting, holes and symlinks in the root.
#include <doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "host/fs/copy_tree.hpp"
#include "host/fs/root_dir.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;
namespace fs = std::filesystem;

namespace {

unsigned mode_of(const std::string& path) { return lstat_of(path).st_mode & 07777; }

}  // namespace

TEST_CASE("copy_tree: new and merged directories, nested files, modes") {
  TempDir src, img;
  write_file(src.path + "/a.txt", "A");
  write_file(src.path + "/sub/deeper/b.txt", "B");
  ::chmod((src.path + "/a.txt").c_str(), 0600);
  fs::create_directories(img.path + "/opt/existing/sub");
  ::chmod((img.path + "/opt/existing").c_str(), 0700);
  write_file(img.path + "/opt/existing/keep.txt", "kept");
  RootDir root(img.path);

  SUBCASE("defaults: 0755 everywhere new, existing modes kept") {
    auto st = copy_tree(root, src.path, "/opt/existing");
    CHECK(st.files == 2);
    CHECK(read_file(img.path + "/opt/existing/a.txt") == "A");
    CHECK(read_file(img.path + "/opt/existing/sub/deeper/b.txt") == "B");
    CHECK(read_file(img.path + "/opt/existing/keep.txt") == "kept");
    CHECK(mode_of(img.path + "/opt/existing/a.txt") == 0755);
    CHECK(mode_of(img.path + "/opt/existing") == 0700);
    CHECK(mode_of(img.path + "/opt/existing/sub/deeper") == 0755);
  }
  SUBCASE("explicit modes; missing parents are new directories too") {
    ::umask(022);
    CopyTreeOptions o{.new_dir_mode = 0770, .merged_dir_mode = 0711, .file_mode = 0640};
    copy_tree(root, src.path, "/srv/new/tree", o);
    CHECK(mode_of(img.path + "/srv") == 0770);
    CHECK(mode_of(img.path + "/srv/new/tree") == 0770);
    CHECK(mode_of(img.path + "/srv/new/tree/sub/deeper") == 0770);
    CHECK(mode_of(img.path + "/srv/new/tree/a.txt") == 0640);
    copy_tree(root, src.path, "/opt/existing", o);
    CHECK(mode_of(img.path + "/opt/existing") == 0711);
    CHECK(mode_of(img.path + "/opt/existing/sub") == 0711);  // merged
    CHECK(mode_of(img.path + "/opt/existing/sub/deeper") == 0770);  // created
  }
  SUBCASE("destination that is a file is an error") {
    write_file(img.path + "/etc/file", "x");
    CHECK_THROWS_WITH_AS(copy_tree(root, src.path, "/etc/file"), doctest::Contains("is not a directory"), Error);
  }
}

TEST_CASE("copy_tree: image symlinks resolve inside the image root") {
  TempDir src, img, outside;
  write_file(src.path + "/f.txt", "inside");
  fs::create_directories(img.path + "/tmp");
  fs::create_directories(img.path + "/etc");
  fs::create_directory_symlink(outside.path, img.path + "/etc/abs");  // absolute: the host dir, by name
  fs::create_directory_symlink("/tmp", img.path + "/etc/evil");
  RootDir root(img.path);
  copy_tree(root, src.path, "/etc/evil/landed");
  CHECK(read_file(img.path + "/tmp/landed/f.txt") == "inside");
  // A link naming a host path is followed inside the image, never to the host.
  CHECK_THROWS_AS(copy_tree(root, src.path, "/etc/abs/x"), Error);
  CHECK(fs::is_empty(outside.path));
}

TEST_CASE("copy_file_sparse keeps holes and the size") {
  TempDir d;
  std::string a = d.path + "/sparse", b = d.path + "/copy";
  {
    int fd = ::open(a.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, "head", 4, 0) == 4);
    REQUIRE(::pwrite(fd, "tail", 4, 64 << 20) == 4);
    REQUIRE(::ftruncate(fd, (64 << 20) + 8 + (1 << 20)) == 0);  // trailing hole
    ::close(fd);
  }
  int s = ::open(a.c_str(), O_RDONLY), t = ::open(b.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(s >= 0);
  REQUIRE(t >= 0);
  struct stat st;
  REQUIRE(::fstat(s, &st) == 0);
  copy_file_sparse(s, t, st.st_size, "test");
  ::close(s);
  ::close(t);
  struct stat out;
  REQUIRE(::stat(b.c_str(), &out) == 0);
  CHECK(out.st_size == st.st_size);
  CHECK(out.st_blocks * 512 < (8 << 20));  // not 65 MiB allocated
  CHECK(read_file(b) == read_file(a));
}
