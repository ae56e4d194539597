// image/format: detection from content, raw working copies, atomic output.
// Uses qemu-img in a temp dir; no loop devices.
#include <doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "host/system/process.hpp"
#include "host/image/header.hpp"
#include "host/image/output_check.hpp"
#include "host/image/format.hpp"
#include "host/system/cleanup.hpp"
#include "host/system/error.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;
using image::Format;
namespace fs = std::filesystem;

namespace {

void write_at(const std::string& path, std::uint64_t offset, const std::string& data) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// A sparse raw disk with a few recognisable blocks.
void make_raw(const std::string& path, std::uint64_t size) {
  run_checked({"truncate", "-s", std::to_string(size), path});
  write_at(path, 0, "MBR-ish start");
  write_at(path, image::kMiB + 7, "one MiB and seven");
  write_at(path, size / 2, std::string(10000, 'x'));
  write_at(path, size - 5, "tail!");
}

void qemu_convert(const std::string& in, const std::string& out, const std::vector<std::string>& fmt_opts) {
  std::vector<std::string> argv = {"qemu-img", "convert", "-f", "raw", in};
  argv.insert(argv.end(), fmt_opts.begin(), fmt_opts.end());
  argv.push_back(out);
  run_checked(argv);
}

// Rewrites the VHD footer at `at` with a new disk type and a valid checksum.
void patch_vhd_type(const std::string& path, std::uint64_t at, unsigned char type) {
  std::string f = read_file(path).substr(at, 512);
  f[60] = f[61] = f[62] = 0;
  f[63] = static_cast<char>(type);
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < 512; ++i)
    if (i < 64 || i >= 68) sum += static_cast<unsigned char>(f[i]);
  sum = ~sum;
  for (int i = 0; i < 4; ++i) f[64 + i] = static_cast<char>(sum >> (24 - 8 * i));
  write_at(path, at, f);
}

const std::vector<Format> kAll = {Format::Raw, Format::Qcow2, Format::Vhd, Format::VhdFixed, Format::Vhdx};

}  // namespace

TEST_CASE("format names round-trip and bad names list the valid ones") {
  for (Format f : kAll) CHECK(image::parse_format(image::name(f)) == f);
  CHECK(image::name(Format::VhdFixed) == "vhd-fixed");
  try {
    image::parse_format("vmdk");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK(std::string(e.what()).find("raw, qcow2, vhd, vhd-fixed, vhdx") != std::string::npos);
  }
}

TEST_CASE("round_up_mib") {
  CHECK(image::round_up_mib(0) == 0);
  CHECK(image::round_up_mib(1) == image::kMiB);
  CHECK(image::round_up_mib(image::kMiB) == image::kMiB);
  CHECK(image::round_up_mib(10 * image::kMiB + 512) == 11 * image::kMiB);
}

TEST_CASE("formats are detected from content, not the extension") {
  TempDir t;
  make_raw(t / "src.raw", 10 * image::kMiB);
  // Deliberately misleading names.
  qemu_convert(t / "src.raw", t / "a.raw", {"-O", "qcow2"});
  qemu_convert(t / "src.raw", t / "b.qcow2", {"-O", "vpc", "-o", "subformat=dynamic,force_size=on"});
  qemu_convert(t / "src.raw", t / "c.vhdx", {"-O", "vpc", "-o", "subformat=fixed,force_size=on"});
  qemu_convert(t / "src.raw", t / "d.vhd", {"-O", "vhdx"});
  CHECK(image::detect_format(t / "src.raw") == Format::Raw);
  CHECK(image::detect_format(t / "a.raw") == Format::Qcow2);
  CHECK(image::detect_format(t / "b.qcow2") == Format::Vhd);
  CHECK(image::detect_format(t / "c.vhdx") == Format::VhdFixed);
  CHECK(image::detect_format(t / "d.vhd") == Format::Vhdx);

  SUBCASE("a fixed VHD converts to the disk size, without the footer") {
    std::string before = read_file(t / "c.vhdx");
    image::convert_to_raw(t / "c.vhdx", Format::VhdFixed, t / "back.raw");
    CHECK(fs::file_size(t / "back.raw") == 10 * image::kMiB);
    CHECK(read_file(t / "back.raw") == read_file(t / "src.raw"));
    CHECK(read_file(t / "c.vhdx") == before);  // input never written
    auto info = image::inspect(t / "c.vhdx");
    CHECK(info.format == Format::VhdFixed);
    CHECK(info.virtual_size == 10 * image::kMiB);
  }
  SUBCASE("a dynamic VHD sized by CHS geometry converts to its footer size") {
    qemu_convert(t / "src.raw", t / "chs.vhd", {"-O", "vpc", "-o", "subformat=dynamic"});
    image::convert_to_raw(t / "chs.vhd", Format::Vhd, t / "back.raw");
    CHECK(fs::file_size(t / "back.raw") == image::inspect(t / "chs.vhd").virtual_size);
    CHECK(read_file(t / "back.raw").substr(0, 10 * image::kMiB) == read_file(t / "src.raw"));
  }
  SUBCASE("differencing and corrupt VHDs are rejected clearly") {
    std::uint64_t size = fs::file_size(t / "b.qcow2");
    patch_vhd_type(t / "b.qcow2", 0, 4);
    patch_vhd_type(t / "b.qcow2", size - 512, 4);
    try {
      image::detect_format(t / "b.qcow2");
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Unsupported);
      CHECK(std::string(e.what()).find("differencing") != std::string::npos);
    }
    write_at(t / "c.vhdx", fs::file_size(t / "c.vhdx") - 512 + 20, "garbage");
    CHECK_THROWS_WITH_AS(image::detect_format(t / "c.vhdx"), doctest::Contains("checksum"), Error);
  }
}

TEST_CASE("raw -> every format -> raw is byte-identical and stays sparse") {
  TempDir t;
  const std::uint64_t size = 64 * image::kMiB;
  make_raw(t / "src.raw", size);
  const std::string original = read_file(t / "src.raw");
  for (Format f : kAll) {
    CAPTURE(image::name(f));
    std::string out = t / ("out." + std::string(image::name(f)));
    image::write_output(t / "src.raw", out, f);
    CHECK(image::detect_format(out) == f);
    auto info = image::inspect(out);
    CHECK(info.format == f);
    CHECK(info.virtual_size == size);
    CHECK(info.allocated > 0);
    CHECK(info.allocated < 8 * image::kMiB);
    if (f == Format::Raw) CHECK(allocated(out) < image::kMiB);

    std::string back = t / "back.raw";
    image::convert_to_raw(out, f, back);
    CHECK(fs::file_size(back) == size);
    CHECK(read_file(back) == original);
    CHECK(allocated(back) < image::kMiB);
  }
  // Only the outputs and the working files: no temp files left behind.
  CHECK(std::distance(fs::directory_iterator(t.path), fs::directory_iterator()) == 7);
}

TEST_CASE("VHD outputs are rounded up to whole MiB") {
  TempDir t;
  const std::uint64_t size = 10 * image::kMiB + 4096;
  make_raw(t / "src.raw", size);
  const std::string original = read_file(t / "src.raw");
  for (Format f : {Format::Vhd, Format::VhdFixed}) {
    CAPTURE(image::name(f));
    std::string out = t / "out.vhd";
    image::write_output(t / "src.raw", out, f);
    CHECK(fs::file_size(t / "src.raw") == 11 * image::kMiB);  // the working copy grew
    CHECK(image::inspect(out).virtual_size == 11 * image::kMiB);
    if (f == Format::VhdFixed) CHECK(fs::file_size(out) == 11 * image::kMiB + 512);
    image::convert_to_raw(out, f, t / "back.raw");
    std::string back = read_file(t / "back.raw");
    REQUIRE(back.size() == 11 * image::kMiB);
    CHECK(back.substr(0, size) == original);
    CHECK(back.find_first_not_of('\0', size) == std::string::npos);
  }
}

TEST_CASE("a failed write leaves no output and no temp file") {
  TempDir t;
  make_raw(t / "src.raw", 4 * image::kMiB);
  const std::size_t entries = teardown().size();

  SUBCASE("qemu-img fails") {
    std::ofstream(t / "out.qcow2") << "previous output";
    CHECK_THROWS_AS(image::write_output(t / "missing.raw", t / "out.qcow2", Format::Qcow2), Error);
    CHECK(read_file(t / "out.qcow2") == "previous output");
    fs::remove(t / "out.qcow2");
  }
  SUBCASE("a missing output directory is created, as ALIC does") {
    image::write_output(t / "src.raw", t / "nodir/sub/out.vhdx", Format::Vhdx);
    CHECK(fs::is_regular_file(t / "nodir/sub/out.vhdx"));
    fs::remove_all(t / "nodir");
  }
  SUBCASE("the output path is a directory") {
    fs::create_directory(t / "adir");
    CHECK_THROWS_AS(image::write_output(t / "src.raw", t / "adir", Format::Raw), Error);
    CHECK(fs::is_empty(t / "adir"));
    fs::remove(t / "adir");
  }
  CHECK(teardown().size() == entries);
  // Only the source is left.
  CHECK(std::distance(fs::directory_iterator(t.path), fs::directory_iterator()) == 1);
}

TEST_CASE("a failed conversion leaves no raw copy") {
  TempDir t;
  make_raw(t / "src.raw", 4 * image::kMiB);
  std::ofstream(t / "work.raw") << "stale";
  CHECK_THROWS_AS(image::convert_to_raw(t / "src.raw", Format::Qcow2, t / "work.raw"), Error);
  CHECK_FALSE(fs::exists(t / "work.raw"));
  CHECK_THROWS_AS(image::convert_to_raw(t / "src.raw", Format::Raw, t / "src.raw"), Error);
  CHECK(fs::exists(t / "src.raw"));
}

namespace {

// Big-endian field writer for hand-made qcow2 headers.
void put_be(std::string& s, std::size_t at, std::uint64_t v, std::size_t n) {
  if (s.size() < at + n) s.resize(at + n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[at + i] = static_cast<char>(v >> (8 * (n - 1 - i)));
}

// A version 3 qcow2 header with 64 KiB clusters and no extensions.
std::string qcow2_v3() {
  std::string h(104, '\0');
  h.replace(0, 4, "QFI\xfb");
  put_be(h, 4, 3, 4);
  put_be(h, 20, 16, 4);          // cluster_bits
  put_be(h, 24, 1 << 20, 8);     // size
  put_be(h, 96, 4, 4);           // refcount_order
  put_be(h, 100, 104, 4);        // header_length
  return h;
}

image::ReadAt reader(const std::string& bytes) {
  return [bytes](std::uint64_t offset, std::size_t length) {
    return offset >= bytes.size() ? std::string() : bytes.substr(offset, length);
  };
}

image::Qcow2Header parse(const std::string& bytes) {
  return image::parse_qcow2_header(reader(bytes), bytes.size());
}

void add_ext(std::string& h, std::size_t at, std::uint32_t type, const std::string& data) {
  put_be(h, at, type, 4);
  put_be(h, at + 4, data.size(), 4);
  h.replace(at + 8, data.size(), data);
  h.resize(std::max(h.size(), at + 8 + ((data.size() + 7) & ~std::size_t{7})), '\0');
}

// Runs qemu-img in `dir` (relative names stay relative in the headers).
void qemu_img(const std::string& dir, std::vector<std::string> argv) {
  argv.insert(argv.begin(), "qemu-img");
  RunOptions o;
  o.cwd = dir;
  run_checked(argv, o);
}

std::string refusal(const std::string& path) {
  try {
    image::detect_format(path);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK(e.target == path);
    return e.what();
  }
  FAIL("expected " << path << " to be refused");
  return "";
}

}  // namespace

TEST_CASE("qcow2 header parser: backing file, external data file, extensions") {
  SUBCASE("a plain header names nothing") {
    auto h = parse(qcow2_v3());
    CHECK(h.version == 3);
    CHECK(h.size == 1 << 20);
    CHECK(h.backing_file.empty());
    CHECK_FALSE(h.external_data);
    CHECK(h.data_file.empty());
  }
  SUBCASE("the backing file name is read at backing_file_offset/size") {
    std::string b = qcow2_v3();
    b.resize(4096, '\0');
    b.replace(512, 11, "/etc/shadow");
    put_be(b, 8, 512, 8);
    put_be(b, 16, 11, 4);
    CHECK(parse(b).backing_file == "/etc/shadow");
  }
  SUBCASE("a backing name that is cut off is still a backing file") {
    std::string b = qcow2_v3();
    put_be(b, 8, 200, 8);
    put_be(b, 16, 50, 4);
    CHECK_FALSE(parse(b).backing_file.empty());
  }
  SUBCASE("control characters in names are escaped") {
    std::string b = qcow2_v3();
    b.resize(600, '\0');
    b.replace(512, 4, "a\nb\x1b");
    put_be(b, 8, 512, 8);
    put_be(b, 16, 4, 4);
    CHECK(parse(b).backing_file == "a\\x0ab\\x1b");
  }
  SUBCASE("the external data file bit and extension") {
    std::string b = qcow2_v3();
    put_be(b, 72, image::kQcow2ExternalData, 8);
    add_ext(b, 104, 0xe2792aca, "raw");  // backing format: skipped
    add_ext(b, 104 + 16, image::kQcow2ExtDataFile, "/dev/sda");
    add_ext(b, 104 + 32, 0, "");
    auto h = parse(b);
    CHECK(h.external_data);
    CHECK(h.data_file == "/dev/sda");
  }
  SUBCASE("the extension alone is found too, extensions end at type 0") {
    std::string b = qcow2_v3();
    add_ext(b, 104, 0, "");
    add_ext(b, 112, image::kQcow2ExtDataFile, "/after/end");
    CHECK(parse(b).data_file.empty());
    std::string c = qcow2_v3();
    add_ext(c, 104, image::kQcow2ExtDataFile, "/x");
    CHECK(parse(c).data_file == "/x");
  }
  SUBCASE("version 2 has no feature bits and no header_length") {
    std::string b = qcow2_v3();
    put_be(b, 4, 2, 4);
    put_be(b, 72, image::kQcow2ExternalData, 8);  // not a field in v2
    b.resize(72);
    auto h = parse(b);
    CHECK(h.version == 2);
    CHECK_FALSE(h.external_data);
  }
  SUBCASE("malformed headers are described") {
    CHECK_THROWS_WITH_AS(parse(qcow2_v3().substr(0, 40)), doctest::Contains("truncated qcow2 header"),
                         image::HeaderError);
    std::string v1 = qcow2_v3();
    put_be(v1, 4, 1, 4);
    CHECK_THROWS_WITH_AS(parse(v1), doctest::Contains("version 1"), image::HeaderError);
    std::string bits = qcow2_v3();
    put_be(bits, 20, 40, 4);
    CHECK_THROWS_WITH_AS(parse(bits), doctest::Contains("cluster size"), image::HeaderError);
    std::string far = qcow2_v3();
    put_be(far, 8, 1 << 20, 8);
    CHECK_THROWS_AS(parse(far), image::HeaderError);
    std::string ext = qcow2_v3();
    put_be(ext, 104, image::kQcow2ExtDataFile, 4);
    put_be(ext, 108, 1 << 20, 4);
    CHECK_THROWS_WITH_AS(parse(ext), doctest::Contains("extension"), image::HeaderError);
  }
}

TEST_CASE("inputs naming other files are refused with the name") {
  TempDir t;
  make_raw(t / "host.raw", 4 * image::kMiB);
  SUBCASE("qcow2 with a backing file") {
    qemu_img(t.path, {"create", "-q", "-f", "qcow2", "-b", t / "host.raw", "-F", "raw", "in.qcow2"});
    std::string msg = refusal(t / "in.qcow2");
    CHECK(msg.find("backing file (" + t / "host.raw" + ")") != std::string::npos);
    CHECK(msg.find("untrusted") != std::string::npos);
    CHECK_THROWS_AS(image::convert_to_raw(t / "in.qcow2", Format::Qcow2, t / "out.raw"), Error);
    CHECK_FALSE(fs::exists(t / "out.raw"));
  }
  SUBCASE("qcow2 with a relative backing file") {
    qemu_img(t.path, {"create", "-q", "-f", "qcow2", "-b", "host.raw", "-F", "raw", "rel.qcow2"});
    CHECK(refusal(t / "rel.qcow2").find("backing file (host.raw)") != std::string::npos);
  }
  SUBCASE("qcow2 with an external data file") {
    qemu_img(t.path, {"create", "-q", "-f", "qcow2", "-o", "data_file=data.raw,data_file_raw=on", "d.qcow2", "4M"});
    CHECK(refusal(t / "d.qcow2").find("external data file (data.raw)") != std::string::npos);
  }
  SUBCASE("differencing VHDX") {
    qemu_img(t.path, {"create", "-q", "-f", "vhdx", "v.vhdx", "4M"});
    CHECK(image::detect_format(t / "v.vhdx") == Format::Vhdx);
    // Set HasParent in the File Parameters metadata item (no checksum covers it).
    std::string bytes = read_file(t / "v.vhdx");
    auto meta = image::parse_vhdx_metadata(reader(bytes));
    CHECK_FALSE(meta.has_parent);
    std::string fp_guid("\x37\x67\xa1\xca\x36\xfa\x43\x4d\xb3\xb6\x33\xf0\xaa\x44\xe7\x6b", 16);
    std::size_t entry = bytes.find(fp_guid);
    REQUIRE(entry != std::string::npos);
    std::size_t table = bytes.rfind("metadata", entry);
    REQUIRE(table != std::string::npos);
    std::size_t item = table + (static_cast<unsigned char>(bytes[entry + 16]) |
                                static_cast<unsigned char>(bytes[entry + 17]) << 8 |
                                static_cast<unsigned char>(bytes[entry + 18]) << 16);
    write_at(t / "v.vhdx", item + 4, std::string(1, static_cast<char>(bytes[item + 4] | 2)));
    CHECK(refusal(t / "v.vhdx").find("differencing VHDX") != std::string::npos);
  }
  SUBCASE("empty files and directories") {
    std::ofstream(t / "empty.img").close();
    CHECK(refusal(t / "empty.img").find("empty (0 bytes)") != std::string::npos);
    fs::create_directory(t / "dir.img");
    CHECK(refusal(t / "dir.img").find("is a directory") != std::string::npos);
  }
  SUBCASE("a truncated qcow2 is found before conversion") {
    qemu_convert(t / "host.raw", t / "full.qcow2", {"-O", "qcow2"});
    fs::resize_file(t / "full.qcow2", fs::file_size(t / "full.qcow2") - 65536);
    CHECK(image::detect_format(t / "full.qcow2") == Format::Qcow2);
    CHECK_THROWS_WITH_AS(image::convert_to_raw(t / "full.qcow2", Format::Qcow2, t / "out.raw"),
                         doctest::Contains("truncated"), Error);
    CHECK_FALSE(fs::exists(t / "out.raw"));
  }
}

TEST_CASE("check_output refuses the input as output, bad formats and unusable locations") {
  TempDir t;
  make_raw(t / "in.raw", 2 * image::kMiB);
  fs::create_directory(t / "sub");
  fs::create_symlink("in.raw", t / "link.raw");
  fs::create_hard_link(t / "in.raw", t / "hard.raw");
  std::vector<std::string> in = {t / "in.raw"};
  auto refused = [&](const std::string& out, const std::string& format, const std::string& why) {
    try {
      image::check_output(out, format, in);
      FAIL("expected " << out << " to be refused");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Usage);
      CHECK_MESSAGE(std::string(e.what()).find(why) != std::string::npos, e.what());
    }
  };
  refused(t / "in.raw", "raw", "it is the input image");
  refused(t / "link.raw", "raw", "it is the input image");
  refused(t / "hard.raw", "qcow2", "it is the input image");
  refused(t / "sub/../in.raw", "raw", "it is the input image");
  refused(t / "missing/../in.raw", "raw", "it is the input image");  // written lexically normalized
  refused(t / "out.raw", "vmdk", "unknown output format 'vmdk' (valid: raw, qcow2, vhd, vhd-fixed, vhdx, cosi, baremetal-image)");
  refused(t / "out.iso", "iso", "the output format 'iso' is not supported by imgrecipe");
  refused(t.path, "raw", "it is a directory");
  refused(t / "in.raw/x.raw", "raw", "is not a directory");
  refused(t / "in.raw/a/b/x.raw", "raw", "is not a directory");
  refused(t / "sub/", "raw", "names a directory");
  // Fine: a new file, also in directories still to be created; no probe file is left.
  CHECK_NOTHROW(image::check_output(t / "out.qcow2", "qcow2", in));
  CHECK_NOTHROW(image::check_output(t / "new/dir/out.vhdx", "vhdx", in));
  CHECK_NOTHROW(image::check_output(t / "out.cosi", "cosi", in));
  CHECK_NOTHROW(image::check_output(t / "out.vhd", "baremetal-image", in));
  CHECK_NOTHROW(image::check_output(t / "in.raw", "raw", {}));
  CHECK(fs::is_empty(t / "sub"));
  CHECK_FALSE(fs::exists(t / "new"));
  CHECK(std::distance(fs::directory_iterator(t.path), fs::directory_iterator()) == 4);
}
