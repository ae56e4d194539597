// disk/verity: ALIC's sizing and kernel arguments (pure), and hash trees made,
// read and verified on image files (no root, no device-mapper), checked
// against veritysetup when it is installed (cryptsetup-bin).
#include <doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "host/disk/verity.hpp"
#include "host/system/error.hpp"
#include "host/system/process.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

// A file of `size` bytes with varied content (not all zero blocks).
void make_data(const std::string& path, std::uint64_t size) {
  std::ofstream f(path, std::ios::binary);
  std::string block(4096, '\0');
  for (std::uint64_t b = 0; b < size / 4096; ++b) {
    for (std::size_t i = 0; i < block.size(); i += 8) block[i] = static_cast<char>((b * 31 + i) & 0xff);
    f.write(block.data(), static_cast<std::streamsize>(block.size()));
  }
}

void make_sparse(const std::string& path, std::uint64_t size) {
  std::filesystem::resize_file((std::ofstream(path), path), size);
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  unsigned char c = 0;
  REQUIRE(::pread(fd, &c, 1, static_cast<off_t>(offset)) == 1);
  c ^= 0x01;
  REQUIRE(::pwrite(fd, &c, 1, static_cast<off_t>(offset)) == 1);
  ::close(fd);
}

bool have_veritysetup() { return std::filesystem::exists("/usr/sbin/veritysetup"); }

int veritysetup(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/sbin/veritysetup"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions o;
  o.capture_stdout = true;
  return run(argv, o).exit_code;
}

}  // namespace

TEST_CASE("verity: hash area sizes (ALIC CalculateHashSizeInBlocks)") {
  // 128 sha256 digests per 4096-byte block, each level rounded up, plus the superblock.
  CHECK(verity::hash_area_blocks(1) == 1);
  CHECK(verity::hash_area_blocks(128) == 2);
  CHECK(verity::hash_area_blocks(129) == 4);      // 2 + 1 + superblock
  CHECK(verity::hash_area_blocks(16384) == 130);  // 128 + 1 + 1
  CHECK(verity::hash_area_blocks(262144) == 2066);  // 1 GiB: 2048 + 16 + 1 + superblock
  CHECK(verity::hash_area_size(262144) == 2066 * 4096);
}

TEST_CASE("verity: inline data sizes match ALIC's calculateInlineVerityDataSize") {
  // Values from ALIC's binary search (data blocks + hash blocks <= partition,
  // then rounded down to 1 MiB).
  CHECK(verity::inline_data_size(4 * MiB) == 3145728);
  CHECK(verity::inline_data_size(64 * MiB) == 66060288);
  CHECK(verity::inline_data_size(100 * MiB) == 103809024);
  CHECK(verity::inline_data_size(256 * MiB) == 265289728);
  CHECK(verity::inline_data_size(1024 * MiB) == 1064304640);
  CHECK(verity::inline_data_size(3072 * MiB) == 3195011072);
  CHECK(verity::inline_data_size(10240 * MiB) == 10652483584ULL);
  for (std::uint64_t size : {4 * MiB, 100 * MiB, 1024 * MiB, 10240 * MiB}) {
    std::uint64_t d = verity::inline_data_size(size);
    CHECK(d % MiB == 0);
    CHECK(d + verity::hash_area_size(d / 4096) <= size);
  }
  CHECK_THROWS_WITH_AS(verity::inline_data_size(MiB), doctest::Contains("too small for inline verity"), Error);
}

TEST_CASE("verity: kernel arguments as ALIC writes them") {
  verity::KernelDevice root;
  root.name = "root";
  root.root_hash = "ab12";
  root.data = "PARTUUID=1111";
  root.hash = "PARTUUID=2222";
  CHECK(verity::kernel_args({root}) ==
        std::vector<std::string>{"rd.systemd.verity=1", "roothash=ab12", "systemd.verity_root_data=PARTUUID=1111",
                                 "systemd.verity_root_hash=PARTUUID=2222", "systemd.verity_root_options="});
  verity::KernelDevice usr;
  usr.name = "usr";
  usr.root_hash = "cd34";
  usr.data = "PARTLABEL=usr";
  usr.hash = "PARTLABEL=usr";
  usr.hash_offset = 66060288;
  root.corruption = "panic";
  root.hash_signature_path = "/boot/root.hash.sig";
  CHECK(verity::kernel_args({root, usr}, "b00t") ==
        std::vector<std::string>{"rd.systemd.verity=1", "roothash=ab12", "systemd.verity_root_data=PARTUUID=1111",
                                 "systemd.verity_root_hash=PARTUUID=2222",
                                 "systemd.verity_root_options=panic-on-corruption,root-hash-signature=/boot/root.hash.sig",
                                 "usrhash=cd34", "systemd.verity_usr_data=PARTLABEL=usr",
                                 "systemd.verity_usr_hash=PARTLABEL=usr",
                                 // ALIC's quirk: the default corruption option leaves a leading comma
                                 "systemd.verity_usr_options=,hash-offset=66060288", "pre.verity.mount=b00t"});
  root.corruption = "restart";
  root.hash_signature_path.clear();
  CHECK(verity::kernel_args({root})[4] == "systemd.verity_root_options=restart-on-corruption");
  root.corruption = "ignore";
  CHECK(verity::kernel_args({root})[4] == "systemd.verity_root_options=ignore-corruption");
  root.corruption = "bogus";
  CHECK_THROWS_WITH_AS(verity::kernel_args({root}), doctest::Contains("corruption option 'bogus'"), Error);
  root.corruption = "io-error";
  root.name = "home";
  CHECK_THROWS_WITH_AS(verity::kernel_args({root}), doctest::Contains("'home'"), Error);
}

TEST_CASE("verity: format, read and verify on files; one flipped byte fails") {
  TempDir dir;
  std::string data = dir.path + "/data.img", hash = dir.path + "/hash.img";
  make_data(data, 8 * MiB);
  make_sparse(hash, 1 * MiB);
  verity::FormatOptions o;
  o.salt = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  o.uuid = "2f1b1a44-8e5b-4e1f-9c3a-6b0a7f3b9c11";
  verity::Info info = verity::format(data, hash, o);
  CHECK(info.root_hash.size() == 64);
  CHECK(info.salt == o.salt);
  CHECK(info.uuid == o.uuid);
  CHECK(info.data_blocks == 2048);
  CHECK(info.hash_offset == 0);
  CHECK(info.hash_size == verity::hash_area_size(2048));
  CHECK(info.hash_algorithm == "sha256");
  CHECK(std::filesystem::file_size(hash) == MiB);  // never grown

  // Same salt and data: the same root hash again (deterministic).
  CHECK(verity::format(data, hash, o).root_hash == info.root_hash);

  verity::Info sb = verity::read(data, hash, 0);
  CHECK(sb.salt == o.salt);
  CHECK(sb.uuid == o.uuid);
  CHECK(sb.data_blocks == 2048);
  CHECK(sb.data_block_size == 4096);
  CHECK(sb.hash_block_size == 4096);
  CHECK(sb.hash_type == 1);
  CHECK(sb.root_hash.empty());

  std::string why;
  CHECK(verity::verify(data, hash, 0, info.root_hash, &why));
  if (have_veritysetup()) CHECK(veritysetup({"verify", data, hash, info.root_hash}) == 0);

  std::string wrong = info.root_hash;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  CHECK_FALSE(verity::verify(data, hash, 0, wrong, &why));

  flip_byte(data, 5 * MiB + 17);
  CHECK_FALSE(verity::verify(data, hash, 0, info.root_hash, &why));
  CHECK_FALSE(why.empty());
  if (have_veritysetup()) CHECK(veritysetup({"verify", data, hash, info.root_hash}) != 0);
}

TEST_CASE("verity: random salt by default; same tree as veritysetup format") {
  TempDir dir;
  std::string data = dir.path + "/data.img", hash = dir.path + "/hash.img";
  make_data(data, 4 * MiB);
  make_sparse(hash, MiB);
  verity::Info a = verity::format(data, hash, {});
  verity::Info b = verity::format(data, hash, {});
  CHECK(a.salt.size() == 64);
  CHECK(a.salt != b.salt);
  CHECK(a.root_hash != b.root_hash);
  if (have_veritysetup()) {
    // veritysetup with our salt writes a tree with our root hash.
    std::string theirs = dir.path + "/theirs.img";
    RunOptions ro;
    ro.capture_stdout = true;
    auto r = run({"/usr/sbin/veritysetup", "format", data, theirs, "--hash", "sha256", "--data-block-size", "4096",
                  "--hash-block-size", "4096", "--salt", b.salt},
                 ro);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("Root hash:      \t" + b.root_hash) != std::string::npos);
    CHECK(std::filesystem::file_size(theirs) == b.hash_size);
  }
}

TEST_CASE("verity: inline tree after the data in the same file") {
  TempDir dir;
  std::string part = dir.path + "/part.img";
  make_data(part, 16 * MiB);
  std::uint64_t d = verity::inline_data_size(16 * MiB);
  CHECK(d == 15 * MiB);
  verity::FormatOptions o;
  o.data_blocks = d / 4096;
  o.hash_offset = d;
  verity::Info info = verity::format(part, part, o);
  CHECK(info.hash_offset == d);
  CHECK(info.data_blocks == d / 4096);
  CHECK(verity::read(part, part, d).data_blocks == d / 4096);
  CHECK(verity::verify(part, part, d, info.root_hash));
  if (have_veritysetup()) {
    CHECK(veritysetup({"verify", part, part, info.root_hash, "--hash-offset", std::to_string(d)}) == 0);
  }
  flip_byte(part, 1234);
  CHECK_FALSE(verity::verify(part, part, d, info.root_hash));
  if (have_veritysetup()) {
    CHECK(veritysetup({"verify", part, part, info.root_hash, "--hash-offset", std::to_string(d)}) != 0);
  }
}

TEST_CASE("verity: clear errors") {
  TempDir dir;
  std::string data = dir.path + "/data.img", hash = dir.path + "/hash.img";
  make_data(data, 8 * MiB);
  make_sparse(hash, 4096 * 2);  // 2048 data blocks need 18 hash blocks
  CHECK_THROWS_WITH_AS(verity::format(data, hash, {}), doctest::Contains("too small for the hash tree"), Error);
  CHECK(std::filesystem::file_size(hash) == 8192);
  verity::FormatOptions o;
  o.data_blocks = 4096;
  make_sparse(hash, MiB);
  CHECK_THROWS_WITH_AS(verity::format(data, hash, o), doctest::Contains("run past the end"), Error);
  o.data_blocks = 1024;
  o.hash_offset = 2 * MiB;
  CHECK_THROWS_WITH_AS(verity::format(data, data, o), doctest::Contains("overlaps"), Error);
  o.hash_offset = 100;
  CHECK_THROWS_WITH_AS(verity::format(data, hash, o), doctest::Contains("not a multiple"), Error);
  o.hash_offset = 0;
  o.salt = "xyz1";
  CHECK_THROWS_WITH_AS(verity::format(data, hash, o), doctest::Contains("not hexadecimal"), Error);
  CHECK_THROWS_WITH_AS(verity::read(data, data, 0), doctest::Contains("no verity superblock"), Error);
  CHECK_THROWS_WITH_AS(verity::verify(data, hash, 0, "abcd"), doctest::Contains("64 hex digits"), Error);
}
