// The fixed-VHD footer (host/image/vhd_footer) and the baremetal-image built
// on it: geometry as the VHD specification computes it, the footer read back
// by qemu-img and by imgrecipe's own input detection, a whole COSI with the
// footer read back with tar(1), and the ext filesystem size that decides
// what ALIC's convert shrinks.
#include <doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "host/disk/disk_file.hpp"
#include "host/disk/partition_table.hpp"
#include "host/disk/partitioner.hpp"
#include "host/fs/mkfs.hpp"
#include "host/fs/shrink.hpp"
#include "host/image/cosi.hpp"
#include "host/image/format.hpp"
#include "host/image/vhd_footer.hpp"
#include "host/system/error.hpp"
#include "host/system/process.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

std::string sh(const std::string& cmd) {
  RunOptions o;
  o.capture_stdout = true;
  return run_checked({"/bin/sh", "-c", cmd}, o).out;
}

std::uint64_t be(const vhd::Footer& f, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | f[at + static_cast<std::size_t>(i)];
  return v;
}

std::string read_tail(const std::string& path, std::size_t n) {
  std::string s = read_file(path);
  return s.substr(s.size() - n);
}

const std::array<unsigned char, 16> kId = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

}  // namespace

TEST_CASE("vhd: CHS geometry as the specification's appendix computes it") {
  auto g = [](std::uint64_t sectors) {
    vhd::Geometry x = vhd::chs_geometry(sectors);
    return fmt::format("{}/{}/{}", x.cylinders, x.heads, x.sectors_per_track);
  };
  // Worked by hand through the specification's steps:
  CHECK(g(204800) == "1003/12/17");       // 100 MiB: 17 sectors, heads (12047+1023)/1024 = 12
  CHECK(g(4194304) == "4161/16/63");      // 2 GiB: 17 -> 31 -> 63 sectors per track
  CHECK(g(2048) == "30/4/17");            // 1 MiB: at least 4 heads
  CHECK(g(266338304) == "65278/16/255");  // 127 GiB: >= 65535*16*63 sectors; 1044463 / 16
  CHECK(g(65535ull * 16 * 255 * 3) == "65535/16/255");  // capped
}

TEST_CASE("vhd: a fixed footer's fields, checksum and the reading by qemu-img and imgrecipe") {
  const std::uint64_t size = 3 * image::kMiB;
  vhd::Footer f = vhd::fixed_footer(size, 0x2a2b2c2d, kId);
  CHECK(std::string(f.begin(), f.begin() + 8) == "conectix");
  CHECK(be(f, 8, 4) == 2);
  CHECK(be(f, 12, 4) == 0x00010000);
  CHECK(be(f, 16, 8) == 0xffffffffffffffffull);
  CHECK(be(f, 24, 4) == 0x2a2b2c2d);
  CHECK(std::string(f.begin() + 28, f.begin() + 32) == "qem2");
  CHECK(be(f, 40, 8) == size);
  CHECK(be(f, 48, 8) == size);
  CHECK(be(f, 56, 2) == 90);  // 6144 sectors: 361 cylinder-heads of 17 sectors, 4 heads
  CHECK(be(f, 58, 1) == 4);
  CHECK(be(f, 59, 1) == 17);
  CHECK(be(f, 60, 4) == 2);
  CHECK(std::equal(kId.begin(), kId.end(), f.begin() + 68));
  // The checksum: ones' complement of the byte sum without the field.
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < f.size(); ++i)
    if (i < 64 || i >= 68) sum += f[i];
  CHECK(be(f, 64, 4) == static_cast<std::uint32_t>(~sum));
  CHECK(vhd::checksum(f) == be(f, 64, 4));
  CHECK(std::all_of(f.begin() + 84, f.end(), [](unsigned char c) { return c == 0; }));
  CHECK_THROWS_AS(vhd::fixed_footer(1000, 0, kId), Error);
  CHECK(vhd::timestamp_of(946684800 + 5) == 5);
  CHECK(vhd::timestamp_of(0) == 0);

  TempDir dir;
  const std::string path = dir / "disk.vhd";
  write_file(path, std::string(size, 'x') + std::string(f.begin(), f.end()));
  // qemu-img reads it as a fixed VHD of the footer's size (not the
  // geometry's 90*4*17 sectors: "qem2" makes it trust the footer).
  std::string info = sh(fmt::format("qemu-img info -f vpc --output=json '{}'", path));
  CHECK_MESSAGE(info.find(fmt::format("\"virtual-size\": {}", size)) != std::string::npos, info);
  CHECK(image::detect_format(path) == image::Format::VhdFixed);
  image::ImageInfo ii = image::inspect(path);
  CHECK(ii.virtual_size == size);

  // The same header qemu-img writes for a fixed VHD with force_size=on, but
  // for the timestamp, the geometry (qemu writes 65535/16/255 there), the
  // checksum and the unique id.
  sh(fmt::format("qemu-img create -q -f vpc -o subformat=fixed,force_size=on '{}' {}", dir / "q.vhd", size));
  std::string q = read_tail(dir / "q.vhd", 512);
  std::string mine(f.begin(), f.end());
  for (const auto& range : {std::pair{0, 24}, std::pair{28, 56}, std::pair{60, 64}, std::pair{84, 512}}) {
    const int from = range.first, to = range.second;  // not a structured binding: clang 14 (CHECK_MESSAGE's lambda)
    CHECK_MESSAGE(q.substr(from, to - from) == mine.substr(from, to - from), "bytes ", from, "..", to);
  }
}

TEST_CASE("baremetal-image: the COSI tar padded to 1 MiB plus a fixed-VHD footer, written atomically") {
  TempDir dir;
  auto d = DiskFile::create(dir / "disk.raw", 16 * image::kMiB);
  d->keep();
  DiskLayout l;
  PartitionSpec esp;
  esp.id = "esp";
  esp.type = "esp";
  esp.grow = true;
  l.partitions = {esp};
  write_partition_table(d->path(), l, TargetArch::X86_64);
  MkfsOptions fat;
  fat.type = FsType::Vfat;
  PartitionTable t = read_partition_table(d->path());
  make_filesystem({d->path(), t.partitions[0].start, t.partitions[0].size}, fat);

  cosi::Inputs in;
  in.os_arch = "x86_64";
  in.os_release = "ID=test\n";
  in.bootloader.type = "grub";
  in.mount_points = {{1, "/boot/efi"}};
  cosi::Options o;
  o.zstd.level = 3;
  o.check_filesystems = false;
  o.work_dir = dir.path;
  o.vhd_footer = true;
  const std::string out = dir / "out/bm.vhd";
  cosi::write(d->path(), out, in, o);
  struct stat st;
  REQUIRE(::stat(out.c_str(), &st) == 0);
  const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  CHECK(size % image::kMiB == 512);
  CHECK(sh(fmt::format("cd '{}' && ls -A", dir / "out")) == "bm.vhd\n");  // no temporaries
  // A tar (reading stops at its end-of-archive blocks) ...
  CHECK(sh(fmt::format("tar -tf '{}'", out)) ==
        "cosi-marker\nmetadata.json\nimages/bm_gpt.raw.zst\nimages/bm_1.raw.zst\n");
  // ... and a fixed VHD of the padded size, the tar its whole disk.
  std::string tail = read_tail(out, 512);
  vhd::Footer f{};
  std::copy(tail.begin(), tail.end(), f.begin());
  CHECK(tail.substr(0, 8) == "conectix");
  CHECK(be(f, 48, 8) == size - 512);
  CHECK(be(f, 60, 4) == 2);
  CHECK(vhd::checksum(f) == be(f, 64, 4));
  CHECK(image::detect_format(out) == image::Format::VhdFixed);
  image::convert_to_raw(out, image::Format::VhdFixed, dir / "back.raw");
  CHECK(sh(fmt::format("cmp '{}' '{}' -n {} && tar -tf '{}' | wc -l", out, dir / "back.raw", size - 512,
                       dir / "back.raw")) == "4\n");
  CHECK(std::filesystem::file_size(dir / "back.raw") == size - 512);
}

TEST_CASE("shrink: the size of an ext filesystem from its superblock") {
  TempDir dir;
  const std::string path = dir / "disk.raw";
  write_file(path, "");
  REQUIRE(::truncate(path.c_str(), 40 * image::kMiB) == 0);
  MkfsOptions ext;
  make_filesystem({path, 4 * image::kMiB, 24 * image::kMiB}, ext);
  CHECK(ext_filesystem_size(path, 4 * image::kMiB) == 24 * image::kMiB);
  // Smaller than the space it was given (mke2fs -b 1024 ... 3000 blocks).
  sh(fmt::format("mke2fs -q -F -t ext4 -b 1024 -E offset={} '{}' 3000", 30 * image::kMiB, path));
  CHECK(ext_filesystem_size(path, 30 * image::kMiB) == 3000 * 1024);
  CHECK_THROWS_WITH_AS(ext_filesystem_size(path, 0), doctest::Contains("no ext2/3/4 superblock"), Error);
}
