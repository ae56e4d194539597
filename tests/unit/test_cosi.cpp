// COSI building blocks without root: in-process hashing (OpenSSL), zstd
// streaming over sparse files, tar headers, metadata.json as ALIC's Go
// encoder writes it, the primary GPT region, and a whole COSI file of a disk
// with unformatted partitions read back with tar(1) and zstd(1).
#include <doctest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>

#include <fmt/format.h>
#include <zstd.h>

#include "host/disk/disk_file.hpp"
#include "host/disk/partitioner.hpp"
#include "host/system/process.hpp"
#include "host/fs/digest.hpp"
#include "host/fs/mkfs.hpp"
#include "host/image/cosi.hpp"
#include "host/image/format.hpp"
#include "host/image/tar_header.hpp"
#include "host/image/zstd_stream.hpp"
#include "host/system/digest.hpp"
#include "host/system/error.hpp"
#include "host/system/signals.hpp"
#include "host/system/unique_fd.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

std::string decompress(const std::string& frame) {
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 31);
  std::string out;
  std::vector<char> buf(1 << 16);
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  while (in.pos < in.size) {
    ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
    std::size_t rc = ZSTD_decompressStream(d, &ob, &in);
    REQUIRE_MESSAGE(!ZSTD_isError(rc), ZSTD_getErrorName(rc));
    out.append(buf.data(), ob.pos);
    if (rc == 0 && in.pos == in.size) break;
  }
  ZSTD_freeDCtx(d);
  return out;
}

std::string sh(const std::string& cmd) {
  RunOptions o;
  o.capture_stdout = true;
  return run_checked({"/bin/sh", "-c", cmd}, o).out;
}

unsigned octal(const std::string& b, std::size_t at, std::size_t width) {
  return static_cast<unsigned>(std::stoul(b.substr(at, width), nullptr, 8));
}

}  // namespace

TEST_CASE("digest: sha256 and sha384 in process, streamed or whole") {
  CHECK(hash_hex(HashAlgo::Sha256, "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hash_hex(HashAlgo::Sha384, "abc") ==
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
  CHECK(hash_hex(HashAlgo::Sha384, "") ==
        "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b");
  Hasher h(HashAlgo::Sha384);
  h.update("a");
  h.update("bc");
  CHECK(h.hex_final() == hash_hex(HashAlgo::Sha384, "abc"));
  TempDir dir;
  std::string big(3 << 20, 'x');
  big[12345] = 'y';
  write_file(dir / "f", big);
  CHECK(hash_file(HashAlgo::Sha384, dir / "f") == hash_hex(HashAlgo::Sha384, big));
  CHECK(sha256_file(dir / "f") == sh("sha256sum " + dir / "f").substr(0, 64));
  CHECK_THROWS_AS(sha256_file(dir.path), Error);
}

TEST_CASE("zstd: a sparse region compresses to its exact bytes, holes as zeros") {
  TempDir dir;
  const std::string f = dir / "sparse";
  {
    UniqueFd fd(::open(f.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(fd.get() >= 0);
    REQUIRE(::ftruncate(fd.get(), 9 << 20) == 0);  // 9 MiB, mostly holes
    std::string a(4096, 'A'), b(100000, 'B');
    REQUIRE(::pwrite(fd.get(), a.data(), a.size(), 1 << 20) == static_cast<ssize_t>(a.size()));
    REQUIRE(::pwrite(fd.get(), b.data(), b.size(), (5 << 20) + 17) == static_cast<ssize_t>(b.size()));
  }
  const std::string content = read_file(f);
  UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
  // workers 2: multithreaded zstd over read pieces; 1: this thread over the
  // mapped file (holes of 1 MiB or more mapped as zero pages).
  for (int workers : {2, 1}) {
    for (auto [off, len] : {std::pair<std::uint64_t, std::uint64_t>{0, 9 << 20}, {(1 << 20) + 100, 5 << 20},
                            {(5 << 20) + 17, 100000}, {(9 << 20) - 5, 5}, {0, 0}}) {
      const std::uint64_t offset = off;  // a copy: clang 14 cannot capture a structured binding (CAPTURE does)
      CAPTURE(workers);
      CAPTURE(offset);
      std::string out;
      zstd::Options o;
      o.level = 3;
      o.workers = workers;
      auto n = zstd::compress_region(fd.get(), f, off, len, o, [&](const void* d, std::size_t k) {
        out.append(static_cast<const char*>(d), k);
      });
      CHECK(n == out.size());
      CHECK(ZSTD_getFrameContentSize(out.data(), out.size()) == len);
      CHECK(decompress(out) == content.substr(off, len));
    }
  }
  zstd::Options bad;
  bad.level = 23;
  CHECK_THROWS_AS(zstd::check_options(bad), Error);
  auto frame = zstd::skippable_frame({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  REQUIRE(frame.size() == 24);
  CHECK(frame.substr(0, 8) == std::string("\x50\x2a\x4d\x18\x10\x00\x00\x00", 8));
  CHECK(ZSTD_findFrameCompressedSize(frame.data(), frame.size()) == 24);
}

namespace {
long rss_anon_kib() {
  std::string status = read_file("/proc/self/status");
  auto at = status.find("RssAnon:");
  return at == std::string::npos ? -1 : std::stol(status.substr(at + 8));
}
}  // namespace

TEST_CASE("zstd: one worker keeps no private copy of the window") {
  // 32 MiB that do not compress: buffered zstd would copy all of it into its
  // window buffer (the window is capped to the input). Mapped, the window is
  // the page cache; private memory grows only by zstd's tables.
  TempDir dir;
  const std::string f = dir / "random";
  sh("head -c 33554432 /dev/urandom > " + f);
  UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.get() >= 0);
  zstd::Options o;
  o.level = 1;
  o.workers = 1;
  const long before = rss_anon_kib();
  REQUIRE(before > 0);
  long peak = before;
  std::uint64_t total = 0;
  zstd::compress_region(fd.get(), f, 0, 32 << 20, o, [&](const void*, std::size_t k) {
    total += k;
    peak = std::max(peak, rss_anon_kib());
  });
  CHECK(total > (32 << 20));  // stored: incompressible
  CHECK_MESSAGE(peak - before < 16 * 1024, "private memory grew by ", (peak - before) / 1024, " MiB");
}

TEST_CASE("tar: ustar headers as Go's archive/tar writes them; PAX for long names") {
  std::string b = tar::ustar_block("cosi-marker", 0, 0400);
  REQUIRE(b.size() == 512);
  CHECK(b.substr(0, 12) == std::string("cosi-marker\0", 12));
  CHECK(b.substr(100, 8) == std::string("0000400\0", 8));
  CHECK(b.substr(108, 16) == std::string("0000000\0" "0000000\0", 16));
  CHECK(b.substr(124, 12) == std::string("00000000000\0", 12));
  CHECK(b.substr(136, 12) == std::string("00000000000\0", 12));
  CHECK(b[156] == '0');
  CHECK(b.substr(257, 8) == std::string("ustar\0" "00", 8));
  unsigned sum = 0;
  for (std::size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(b[i]);
  CHECK(octal(b, 148, 6) == sum);
  CHECK(b[154] == '\0');
  CHECK(b[155] == ' ');
  CHECK(octal(tar::ustar_block("x", 123456789, 0400), 124, 11) == 123456789u);

  CHECK(tar::file_header("metadata.json", 10).size() == 512);
  std::string longname = "images/" + std::string(120, 'n') + "_1.raw.zst";
  std::string h = tar::file_header(longname, 5);
  REQUIRE(h.size() == 3 * 512);
  CHECK(h[156] == 'x');
  CHECK(h.substr(0, 20) == "images/PaxHeaders.0/");
  std::string rec = fmt::format(" path={}\n", longname);
  rec = fmt::format("{}{}", rec.size() + 3, rec);
  CHECK(octal(h, 124, 11) == rec.size());
  CHECK(h.substr(512, rec.size()) == rec);
  CHECK(h[1024 + 156] == '0');
  CHECK(h.substr(1024, 100) == longname.substr(0, 100));
  // GNU tar reads the PAX header back: the long name, mode 0400, owner 0/0, epoch mtime.
  TempDir dir;
  std::string archive = h + "hello" + std::string(tar::padding(5), '\0') + tar::end_of_archive();
  write_file(dir / "t.tar", archive);
  CHECK(sh(fmt::format("tar --numeric-owner --utc -tvf '{}'", dir / "t.tar")) ==
        "-r-------- 0/0               5 1970-01-01 00:00 " + longname + "\n");
  CHECK(sh(fmt::format("tar -xOf '{}'", dir / "t.tar")) == "hello");
  std::string big = tar::file_header("images/x", 10ull << 30);
  CHECK(big.find("size=10737418240\n") != std::string::npos);
  CHECK(tar::padding(0) == 0);
  CHECK(tar::padding(1) == 511);
  CHECK(tar::padding(512) == 0);
}

TEST_CASE("cosi: JSON strings escaped as Go's encoding/json") {
  CHECK(cosi::json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(cosi::json_string("<a&b>") == "\"\\u003ca\\u0026b\\u003e\"");
  CHECK(cosi::json_string("l1\nl2\t\r\x01\x1f\b\f") == "\"l1\\nl2\\t\\r\\u0001\\u001f\\b\\f\"");
  CHECK(cosi::json_string("d\xc3\xa9j\xc3\xa0 /x") == "\"d\xc3\xa9j\xc3\xa0 /x\"");
  CHECK(cosi::json_string("bad\xff\xc3") == "\"bad\\ufffd\\ufffd\"");
  CHECK(cosi::json_string("\xe2\x80\xa8") == "\"\\u2028\"");
}

TEST_CASE("cosi: metadata.json has ALIC's fields in ALIC's order, indented as MarshalIndent") {
  cosi::Metadata m;
  m.os_arch = "x86_64";
  m.disk_size = 2147483648;
  m.lba_size = 512;
  cosi::ImageFile gpt{"images/out_gpt.raw.zst", 100, 17408, std::string(96, 'a')};
  cosi::ImageFile p1{"images/out_1.raw.zst", 200, 1048576, std::string(96, 'b')};
  m.regions = {{gpt, "primary-gpt", 0}, {p1, "partition", 1}};
  m.images = {{p1, "/", "ext4", "0b0e-uuid", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", std::nullopt}};
  m.os_release = "NAME=\"Debian\"\nID=debian\n";
  m.id = "00112233-4455-6677-8899-aabbccddeeff";
  m.bootloader.type = "grub";
  m.packages = {{"bash", "5.2.15-2+b2", "", "amd64"}};
  const std::string expected = R"({
  "version": "1.2",
  "osArch": "x86_64",
  "disk": {
    "size": 2147483648,
    "type": "gpt",
    "lbaSize": 512,
    "gptRegions": [
      {
        "image": {
          "path": "images/out_gpt.raw.zst",
          "compressedSize": 100,
          "uncompressedSize": 17408,
          "sha384": ")" + std::string(96, 'a') + R"("
        },
        "type": "primary-gpt"
      },
      {
        "image": {
          "path": "images/out_1.raw.zst",
          "compressedSize": 200,
          "uncompressedSize": 1048576,
          "sha384": ")" + std::string(96, 'b') + R"("
        },
        "type": "partition",
        "number": 1
      }
    ]
  },
  "images": [
    {
      "image": {
        "path": "images/out_1.raw.zst",
        "compressedSize": 200,
        "uncompressedSize": 1048576,
        "sha384": ")" + std::string(96, 'b') + R"("
      },
      "mountPoint": "/",
      "fsType": "ext4",
      "fsUuid": "0b0e-uuid",
      "partType": "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
      "verity": null
    }
  ],
  "osRelease": "NAME=\"Debian\"\nID=debian\n",
  "id": "00112233-4455-6677-8899-aabbccddeeff",
  "bootloader": {
    "type": "grub"
  },
  "osPackages": [
    {
      "name": "bash",
      "version": "5.2.15-2+b2",
      "release": "",
      "arch": "amd64"
    }
  ],
  "compression": {
    "maxWindowLog": 27
  }
})";
  CHECK(cosi::metadata_json(m) == expected);

  m.images.clear();
  m.packages.clear();
  m.bootloader = {"systemd-boot", {{"uki-standalone", "/boot/efi/EFI/Linux/k.efi", "root=/dev/sda2 ro", "6.6.1"}}};
  std::string j = cosi::metadata_json(m);
  CHECK(j.find("\"images\": [],") != std::string::npos);
  CHECK(j.find("\"osPackages\": null,") != std::string::npos);
  CHECK(j.find(R"("bootloader": {
    "type": "systemd-boot",
    "systemdBoot": {
      "entries": [
        {
          "type": "uki-standalone",
          "path": "/boot/efi/EFI/Linux/k.efi",
          "cmdline": "root=/dev/sda2 ro",
          "kernel": "6.6.1"
        }
      ]
    }
  },)") != std::string::npos);
}

TEST_CASE("cosi: the verity object of a data filesystem, as ALIC's VerityConfig") {
  cosi::Metadata m;
  m.os_arch = "x86_64";
  m.bootloader.type = "grub";
  cosi::ImageFile data{"images/o_3.raw.zst", 10, 4096, std::string(96, 'c')};
  cosi::ImageFile hash{"images/o_4.raw.zst", 20, 8192, std::string(96, 'd')};
  cosi::Filesystem fs{data, "/", "ext4", "u", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", std::nullopt};
  fs.verity = cosi::VerityImage{hash, std::string(64, 'e'), 0};
  m.images = {fs};
  const std::string separate = R"("partType": "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
      "verity": {
        "image": {
          "path": "images/o_4.raw.zst",
          "compressedSize": 20,
          "uncompressedSize": 8192,
          "sha384": ")" + std::string(96, 'd') + R"("
        },
        "roothash": ")" + std::string(64, 'e') + R"("
      }
    }
  ],)";
  CHECK(cosi::metadata_json(m).find(separate) != std::string::npos);
  // Inline: the data image itself, and hashOffset (omitted when 0, as Go's omitempty).
  m.images[0].verity = cosi::VerityImage{data, std::string(64, 'f'), 1069547520};
  const std::string inline_tree = R"(        "roothash": ")" + std::string(64, 'f') + R"(",
        "hashOffset": 1069547520
      }
    }
  ],)";
  CHECK(cosi::metadata_json(m).find(inline_tree) != std::string::npos);
}

TEST_CASE("cosi: a GPT disk written as COSI reads back with tar and zstd") {
  TempDir dir;
  auto d = DiskFile::create(dir / "disk.raw", 24 * image::kMiB);
  d->keep();
  DiskLayout l;
  PartitionSpec esp;
  esp.id = "esp";
  esp.type = "esp";
  esp.size = 8 * image::kMiB;
  PartitionSpec root;
  root.id = "root";
  root.type = "root";
  root.grow = true;
  l.partitions = {esp, root};
  auto placed = write_partition_table(d->path(), l, TargetArch::X86_64);
  MkfsOptions fat;
  fat.type = FsType::Vfat;
  make_filesystem({d->path(), 1 * image::kMiB, 8 * image::kMiB}, fat);
  MkfsOptions ext;
  PartitionTable t = read_partition_table(d->path());
  make_filesystem({d->path(), t.partitions[1].start, t.partitions[1].size}, ext);
  const std::string before = hash_file(HashAlgo::Sha256, d->path());

  CHECK(cosi::primary_gpt_bytes(d->path(), 512) == 34 * 512);

  cosi::Inputs in;
  in.os_arch = "x86_64";
  in.os_release = "ID=test\n";
  in.image_uuid = "00112233-4455-6677-8899-aabbccddeeff";
  in.bootloader.type = "grub";
  in.packages = {{"p", "1", "2", "x86_64"}};
  in.mount_points = {{2, "/"}, {1, "/boot/efi"}};
  cosi::Options o;
  o.zstd.level = 3;
  o.check_filesystems = false;  // loop devices need root: tests/integration/test_cosi.sh
  o.work_dir = dir.path;
  const std::string out = dir / "out dir/my.image.cosi";
  cosi::Metadata m = cosi::write(d->path(), out, in, o);
  CHECK(hash_file(HashAlgo::Sha256, d->path()) == before);  // the disk is only read

  CHECK(sh(fmt::format("tar -tf '{}'", out)) ==
        "cosi-marker\nmetadata.json\nimages/my.image_gpt.raw.zst\nimages/my.image_1.raw.zst\n"
        "images/my.image_2.raw.zst\n");
  CHECK(sh(fmt::format("cd '{}' && ls -A", dir.path)) == "disk.raw\nout dir\n");  // no temporaries left
  CHECK(sh(fmt::format("tar -xOf '{}' metadata.json", out)) == cosi::metadata_json(m));
  REQUIRE(m.regions.size() == 3);
  REQUIRE(m.images.size() == 2);
  CHECK(m.images[0].mount_point == "/boot/efi");
  CHECK(m.images[0].fs_type == "vfat");
  CHECK(m.images[0].part_type == "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
  CHECK(m.images[1].mount_point == "/");
  CHECK(m.images[1].fs_type == "ext4");
  CHECK(m.regions[2].number == 2);
  CHECK(m.disk_size == 24 * image::kMiB);
  for (const auto& r : m.regions) {
    std::string z = sh(fmt::format("tar -xOf '{}' '{}'", out, r.image.path));
    CHECK(z.size() == r.image.compressed_size);
    CHECK(hash_hex(HashAlgo::Sha384, z) == r.image.sha384);
    CHECK(z.substr(0, 24) == zstd::skippable_frame({0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
                                                    0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}));
    std::uint64_t start = r.number == 0 ? 0 : t.partitions[r.number - 1].start;
    CHECK(sh(fmt::format("tar -xOf '{}' '{}' | zstd -dc | sha256sum", out, r.image.path)).substr(0, 64) ==
          sh(fmt::format("dd if='{}' bs=512 skip={} count={} status=none | sha256sum", d->path(), start / 512,
                         r.image.uncompressed_size / 512))
              .substr(0, 64));
  }

  // A failure leaves no output and no temporary.
  cosi::Inputs bad = in;
  bad.mount_points[7] = "/srv";
  CHECK_THROWS_AS(cosi::write(d->path(), dir / "bad.cosi", bad, o), Error);
  CHECK(sh(fmt::format("cd '{}' && ls -A", dir.path)) == "disk.raw\nout dir\n");
  // A failure at the very end (the rename onto a directory) removes the
  // finished temporary output and every compressed image.
  std::filesystem::create_directories(dir / "out dir/taken");
  CHECK_THROWS_WITH_AS(cosi::write(d->path(), dir / "out dir/taken", in, o), doctest::Contains("rename into place"),
                       Error);
  CHECK(sh(fmt::format("cd '{}' && ls -A . 'out dir' 'out dir/taken'", dir.path)) ==
        ".:\ndisk.raw\nout dir\n\nout dir:\nmy.image.cosi\ntaken\n\nout dir/taken:\n");
}

TEST_CASE("zstd: SIGINT stops multithreaded compression at level 19 within seconds") {
  // Multithreaded zstd at level 19 runs 64 MiB jobs; a call, and freeing the
  // context, can wait for them for minutes. The compression runs in a child
  // that gets SIGINT while compressing incompressible (xorshift) bytes.
  TempDir dir;
  const std::string f = dir / "noise";
  const std::uint64_t size = std::uint64_t{192} << 20;
  {
    UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(fd.get() >= 0);
    std::vector<std::uint64_t> buf(1 << 17);
    std::uint64_t x = 88172645463325252ull;
    for (std::uint64_t at = 0; at < size; at += buf.size() * 8) {
      for (auto& w : buf) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w = x;
      }
      REQUIRE(::pwrite(fd.get(), buf.data(), buf.size() * 8, static_cast<off_t>(at)) ==
              static_cast<ssize_t>(buf.size() * 8));
    }
  }
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signals::install();
    int code = 3;
    try {
      UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
      zstd::Options o;
      o.level = 19;
      o.workers = 2;
      zstd::compress_region(fd.get(), f, 0, size, o, [](const void*, std::size_t) {});
      code = 0;
    } catch (const Error& e) {
      code = e.kind() == ErrorKind::Interrupted ? 42 : 4;
    } catch (...) {
      code = 5;
    }
    ::_exit(code);
  }
  ::usleep(1500 * 1000);
  REQUIRE(::kill(pid, SIGINT) == 0);
  auto start = std::chrono::steady_clock::now();
  int status = 0;
  pid_t got = 0;
  while ((got = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(20))
    ::usleep(20 * 1000);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (got == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  CAPTURE(took);
  CHECK(got == pid);
  CHECK(took < 3.0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 42);  // the interrupted error, not a finished frame
}
