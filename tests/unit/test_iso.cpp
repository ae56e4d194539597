// media/iso_write, iso_read, grub_image and fs/fat_image: xorriso and
// grub-mkimage argument sets (pure), the report and listing parsers, and real
// hybrid ISOs (UEFI FAT image + BIOS GRUB El Torito) read back without
// mounting anything. No root needed.
#include <doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "host/fs/fat_image.hpp"
#include "host/fs/fat_stage.hpp"
#include "host/fs/squashfs.hpp"
#include "host/media/grub_image.hpp"
#include "host/media/iso_read.hpp"
#include "host/media/iso_write.hpp"
#include "host/system/error.hpp"
#include "host/system/process.hpp"
#include "test_support.hpp"

using namespace imgrecipe;
using namespace imgrecipe::test;

namespace {

constexpr std::uint64_t MiB = 1 << 20;

std::size_t index_of(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), s) - v.begin());
}
bool has(const std::vector<std::string>& v, const std::string& s) { return index_of(v, s) < v.size(); }

bool usage_error(const iso::Spec& s) {
  try {
    iso::check_spec(s);
  } catch (const Error& e) {
    return e.kind() == ErrorKind::Usage;
  }
  return false;
}

const iso::Entry* find(const std::vector<iso::Entry>& es, const std::string& path) {
  for (const auto& e : es)
    if (e.path == path) return &e;
  return nullptr;
}

std::string out_of(const std::vector<std::string>& argv) {
  RunOptions o;
  o.capture_stdout = true;
  o.env = mtools_env();
  return run_checked(argv, o).out;
}

const char* kReport =
    "PVD address  : 16s\n"
    "Volume Id    : MY LIVE\n"
    "Volume Set Id: \n"
    "Creation Time: 2026113021354100\n"
    "El Torito catalog  : 74  1\n"
    "El Torito cat path : /boot.catalog\n"
    "El Torito images   :   N  Pltf  B   Emul  Ld_seg  Hdpt  Ldsiz         LBA\n"
    "El Torito boot img :   1  BIOS  y   none  0x0000  0x00      4          75\n"
    "El Torito boot img :   2  UEFI  y   none  0x0000  0x00   8192         132\n"
    "El Torito img path :   1  /boot/grub/i386-pc/elto rito.img\n"
    "El Torito img opts :   1  boot-info-table grub2-boot-info\n"
    "El Torito img blks :   2  2048\n"
    "System area options: 0x00004201\n"
    "System area summary: MBR protective-msdos-label grub2-mbr cyl-align-off GPT\n"
    "ISO image size/512 : 9384\n"
    "Partition offset   : 16\n"
    "MBR partition table:   N Status  Type        Start       Blocks\n"
    "MBR partition      :   1   0x00  0xee            1         9383\n"
    "MBR partition      :   2   0x80  0x00            0            1\n"
    "GPT                :   N  Info\n"
    "GPT disk GUID      :      fb8fc371ac161740a677851d990adb34\n"
    "GPT partname local :   1  ISO9660\n"
    "GPT type GUID      :   1  a2a0d0ebe5b9334487c068b6b72699c7\n"
    "GPT start and size :   1  64  464\n"
    "GPT partname local :   2  Appended2\n"
    "GPT type GUID      :   2  28732ac11ff8d211ba4b00a0c93ec93b\n"
    "GPT start and size :   2  528  8192\n";

}  // namespace

TEST_CASE("iso: El Torito and system area report is parsed") {
  iso::BootReport r = iso::parse_boot_report(kReport);
  CHECK(r.volume_id == "MY LIVE");
  CHECK(r.catalog_path == "/boot.catalog");
  CHECK(r.system_area == "MBR protective-msdos-label grub2-mbr cyl-align-off GPT");
  REQUIRE(r.entries.size() == 2);
  CHECK(r.entries[0].platform == "BIOS");
  CHECK(r.entries[0].platform_id == 0x00);
  CHECK(r.entries[0].bootable);
  CHECK(r.entries[0].emulation == "none");
  CHECK(r.entries[0].load_size == 4);
  CHECK(r.entries[0].lba == 75);
  CHECK(r.entries[0].path == "/boot/grub/i386-pc/elto rito.img");
  CHECK(r.entries[0].options == "boot-info-table grub2-boot-info");
  CHECK(r.entries[1].platform_id == 0xef);
  CHECK(r.entries[1].load_size == 8192);
  CHECK(r.entries[1].path.empty());
  REQUIRE(r.mbr.size() == 2);
  CHECK(r.mbr[0].type == "0xee");
  CHECK(r.mbr[0].sectors == 9383);
  CHECK(r.mbr[1].bootable);
  REQUIRE(r.gpt.size() == 2);
  CHECK(r.gpt[0].type == "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7");
  CHECK(r.gpt[0].name == "ISO9660");
  CHECK(r.gpt[1].type == "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
  CHECK(r.gpt[1].start == 528);
  CHECK(r.gpt[1].sectors == 8192);
  CHECK(iso::parse_boot_report("").entries.empty());
}

TEST_CASE("iso: xorriso listing with quoting and escapes is parsed") {
  const std::string text =
      "drwxr-xr-x    1 0        0               0 Nov 30 21:35 '/'\n"
      "-rw-r--r--    1 0        0              11 Nov 30 21:35 '/boot/grub/grub.cfg'\n"
      "er--r--r--    1 0        0            2048 Nov 30 21:35 '/boot.catalog'\n"
      "-rw-r-----    1 1000     1001            6 Nov 30 21:35 '/a/we '\"'\"'q'\n"
      "crw-r--r--    1 0        0             1,3 Nov 30 21:35 '/a/null'\n"
      "lrwxrwxrwx    1 0        0               0 Nov 30 21:35 '/link' -> 'a/it'\"'\"'s'\n"
      "-rw-r--r--    1 0        0               0 Nov 30 21:35 '/x\\ny\\\\z\\303\\274'\n";
  auto es = iso::parse_listing(text);
  REQUIRE(es.size() == 7);
  CHECK(es[0].path == "/");
  CHECK(es[0].type == 'd');
  CHECK(es[1].size == 11);
  CHECK(es[2].type == '-');
  CHECK(es[3].path == "/a/we 'q");
  CHECK(es[3].uid == 1000);
  CHECK(es[3].gid == 1001);
  CHECK(es[3].mode == 0640);
  CHECK(es[4].type == 'c');
  CHECK(es[4].size == 0);
  CHECK(es[5].link_target == "a/it's");
  CHECK(es[6].path == "/x\ny\\z\xc3\xbc");
  CHECK(iso::decode_escapes("a\\tb\\x41\\101") == "a\tbAA");
}

TEST_CASE("iso: xorriso arguments of a hybrid BIOS + UEFI ISO") {
  iso::Spec s;
  s.volume_id = "LIVE";
  s.tree = "/stage";
  s.files = {{"/w/squashfs.img", "/LiveOS/squashfs.img"}, {"/w/a=b\\c", "/extra/x=y"}};
  s.efi_boot_image = "/w/efiboot.img";
  s.bios = iso::BiosBoot{"/w/eltorito.img", "/boot/grub/i386-pc/eltorito.img", true, "/g/boot_hybrid.img"};
  auto a = iso::command(s, "/out.iso");
  CHECK(a[0] == "xorriso");
  CHECK(a[index_of(a, "-o") + 1] == "/out.iso");
  CHECK(a[index_of(a, "-V") + 1] == "LIVE");
  CHECK(has(a, "-R"));
  CHECK(has(a, "-J"));
  CHECK(a[index_of(a, "--grub2-mbr") + 1] == "/g/boot_hybrid.img");
  CHECK(a[index_of(a, "-partition_offset") + 1] == "16");
  std::size_t ap = index_of(a, "-append_partition");
  CHECK(a[ap + 1] == "2");
  CHECK(a[ap + 2] == "0xef");
  CHECK(a[ap + 3] == "/w/efiboot.img");
  CHECK(has(a, "-appended_part_as_gpt"));
  CHECK(a[index_of(a, "-b") + 1] == "/boot/grub/i386-pc/eltorito.img");
  CHECK(has(a, "--grub2-boot-info"));
  // The UEFI entry is the second, pointing at the appended ESP.
  CHECK(index_of(a, "-b") < index_of(a, "-eltorito-alt-boot"));
  CHECK(a[index_of(a, "-e") + 1] == "--interval:appended_partition_2:all::");
  std::size_t g = index_of(a, "-graft-points");
  REQUIRE(g + 5 == a.size());
  CHECK(a[g + 1] == "/=/stage");
  CHECK(a[g + 2] == "/LiveOS/squashfs.img=/w/squashfs.img");
  CHECK(a[g + 3] == "/extra/x\\=y=/w/a\\=b\\\\c");
  CHECK(a[g + 4] == "/boot/grub/i386-pc/eltorito.img=/w/eltorito.img");

  CHECK_FALSE(has(a, "--set_all_file_dates"));
  s.timestamp = 1700000000;
  CHECK(iso::command(s, "/o")[index_of(iso::command(s, "/o"), "--set_all_file_dates") + 1] == "2023111422132000");

  SUBCASE("UEFI only: no BIOS entry, no MBR code") {
    s.bios.reset();
    a = iso::command(s, "/out.iso");
    CHECK_FALSE(has(a, "-b"));
    CHECK_FALSE(has(a, "--grub2-mbr"));
    CHECK_FALSE(has(a, "-eltorito-alt-boot"));
    CHECK(has(a, "-e"));
    CHECK(has(a, "-c"));
  }
  SUBCASE("no boot: no catalog") {
    s.bios.reset();
    s.efi_boot_image.clear();
    a = iso::command(s, "/out.iso");
    CHECK_FALSE(has(a, "-c"));
    CHECK_FALSE(has(a, "-e"));
  }
  SUBCASE("BIOS CD only") {
    s.efi_boot_image.clear();
    s.bios->hybrid_mbr.clear();
    a = iso::command(s, "/out.iso");
    CHECK(has(a, "-b"));
    CHECK_FALSE(has(a, "--grub2-mbr"));
    CHECK_FALSE(has(a, "-append_partition"));
  }
}

TEST_CASE("iso: bad specs are usage errors naming the field") {
  iso::Spec s;
  s.volume_id = "LIVE";
  s.tree = "/stage";
  CHECK_FALSE(usage_error(s));
  s.volume_id = "";
  CHECK(usage_error(s));
  s.volume_id = std::string(33, 'A');
  CHECK(usage_error(s));
  s.volume_id = "caf\xc3\xa9";
  CHECK(usage_error(s));
  s.volume_id = "LIVE";
  s.files = {{"/a", "relative/x"}};
  CHECK(usage_error(s));
  s.files = {{"/a", "/x/../y"}};
  CHECK(usage_error(s));
  s.files = {{"/a", "/"}};
  CHECK(usage_error(s));
  s.files = {{"/a", "/x"}, {"/b", "//x/"}};
  CHECK_THROWS_WITH_AS(iso::check_spec(s), doctest::Contains("files[2]"), Error);
  s.files = {{"", "/x"}};
  CHECK(usage_error(s));
  s.files.clear();
  s.tree.clear();
  CHECK(usage_error(s));
}

TEST_CASE("grub: grub-mkimage arguments") {
  grub::ImageOptions o;
  auto a = grub::mkimage_command(o, "/o.img");
  CHECK(a[index_of(a, "-O") + 1] == "i386-pc-eltorito");
  CHECK(a[index_of(a, "-d") + 1] == "/usr/lib/grub/i386-pc");
  CHECK(a[index_of(a, "-p") + 1] == "/boot/grub");
  CHECK(has(a, "biosdisk"));
  CHECK(has(a, "iso9660"));
  o.target = grub::parse_target("x86_64-efi");
  o.config_file = "/early.cfg";
  o.modules = {"normal", "iso9660"};
  a = grub::mkimage_command(o, "/o.efi");
  CHECK(a[index_of(a, "-O") + 1] == "x86_64-efi");
  CHECK(a[index_of(a, "-d") + 1] == "/usr/lib/grub/x86_64-efi");
  CHECK(a[index_of(a, "-c") + 1] == "/early.cfg");
  CHECK(a.back() == "iso9660");
  CHECK_FALSE(has(a, "biosdisk"));
  CHECK_THROWS_AS(grub::parse_target("arm64"), Error);
  o.modules = {"-o"};
  CHECK_THROWS_AS(grub::mkimage_command(o, "/x"), Error);
}

TEST_CASE("fat image: sizing") {
  CHECK(fat_image_size(0, 0) == 2 * MiB);
  CHECK(fat_image_size(10 * MiB, 0) == 12 * MiB);
  CHECK(fat_image_size(10 * MiB, 5 * MiB) == 17 * MiB);
  CHECK(fat_image_size(100 * MiB, 0) % MiB == 0);
  CHECK(fat_image_size(100 * MiB, 0) > 103 * MiB);
}

TEST_CASE("fat image: a tree made into a FAT image and read back with mtools; what FAT cannot hold is refused") {
  TempDir t;
  write_file(t / "esp/EFI/BOOT/BOOTX64.EFI", std::string(300000, 'x'));
  write_file(t / "esp/EFI/BOOT/grub.cfg", "set timeout=0\n");
  FatImageOptions o;
  o.label = "EFIBOOT";
  o.volume_id = "1234-ABCD";
  make_fat_image(t / "esp", t / "efi.img", o);
  FatInfo fi = read_fat_info(t / "efi.img", 0);
  CHECK(fi.label == "EFIBOOT");
  CHECK(fi.volume_id == "1234-ABCD");
  CHECK(fi.bytes() == 2 * MiB);
  CHECK(out_of({"mtype", "-i", t / "efi.img", "::/EFI/BOOT/grub.cfg"}) == "set timeout=0\n");
  CHECK(out_of({"mdir", "-b", "-i", t / "efi.img", "::/EFI/BOOT"}).find("BOOTX64.EFI") != std::string::npos);

  std::filesystem::create_symlink("grub.cfg", t / "esp/EFI/BOOT/link");
  CHECK_THROWS_WITH_AS(make_fat_image(t / "esp", t / "bad.img", o), doctest::Contains("symbolic link"), Error);
  std::filesystem::remove(t / "esp/EFI/BOOT/link");
  o.size = 1 * MiB;
  write_file(t / "esp/big", std::string(2 * MiB, 'b'));
  CHECK_THROWS_WITH_AS(make_fat_image(t / "esp", t / "small.img", o), doctest::Contains("does not fit"), Error);
  CHECK_FALSE(std::filesystem::exists(t / "bad.img"));
  CHECK_FALSE(std::filesystem::exists(t / "small.img"));
  CHECK(std::distance(std::filesystem::directory_iterator(t.path), {}) == 2);  // esp, efi.img
}

TEST_CASE("iso: a hybrid ISO written and read back: boot catalog, partitions, files" *
          doctest::skip(!std::filesystem::exists("/usr/lib/grub/i386-pc/boot_hybrid.img") ||
                        !std::filesystem::exists("/usr/lib/grub/x86_64-efi/normal.mod"))) {
  TempDir t;
  write_file(t / "media/boot/grub/grub.cfg", "echo live\n");
  write_file(t / "media/a dir/it's", "quoted\n");
  write_file(t / "payload.bin", "payload\n");
  grub::ImageOptions eo;
  eo.target = grub::Target::Efi64;
  grub::make_image(eo, t / "esp/EFI/BOOT/BOOTX64.EFI");
  make_fat_image(t / "esp", t / "efiboot.img", {});
  grub::ImageOptions bo;
  grub::make_image(bo, t / "eltorito.img");

  iso::Spec s;
  s.volume_id = "IMGRECIPE_TEST";
  s.tree = t / "media";
  s.files = {{t / "payload.bin", "/payload/p.bin"}};
  s.efi_boot_image = t / "efiboot.img";
  s.bios = iso::BiosBoot{t / "eltorito.img", "/boot/grub/i386-pc/eltorito.img", true, grub::hybrid_mbr()};
  s.timestamp = 1700000000;
  std::string out = t / "out/live.iso";
  iso::write(s, out);
  CHECK(std::distance(std::filesystem::directory_iterator(t / "out"), {}) == 1);

  iso::BootReport r = iso::boot_report(out);
  CHECK(r.volume_id == "IMGRECIPE_TEST");
  REQUIRE(r.entries.size() == 2);
  CHECK(r.entries[0].platform_id == 0x00);
  CHECK(r.entries[0].path == "/boot/grub/i386-pc/eltorito.img");
  CHECK(r.entries[0].options.find("grub2-boot-info") != std::string::npos);
  CHECK(r.entries[1].platform_id == 0xef);
  CHECK(r.system_area.find("grub2-mbr") != std::string::npos);
  bool esp = false;
  for (const auto& p : r.gpt) esp = esp || p.type == "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
  CHECK(esp);
  CHECK(iso::volume_id(out) == "IMGRECIPE_TEST");
  CHECK(iso::boot_options(out).find("-e '--interval:appended_partition_2") != std::string::npos);
  // The ISO starts with GRUB's hybrid MBR code (up to 0x1B0, where xorriso
  // patches in the El Torito image's address).
  std::string mbr = read_file(grub::hybrid_mbr());
  CHECK(read_file(out).substr(0, 0x1b0) == mbr.substr(0, 0x1b0));

  auto es = iso::list(out);
  REQUIRE(find(es, "/boot/grub/grub.cfg") != nullptr);
  CHECK(find(es, "/boot/grub/grub.cfg")->size == 10);
  CHECK(find(es, "/a dir/it's") != nullptr);
  CHECK(find(es, "/payload/p.bin") != nullptr);
  CHECK(iso::read_file(out, "/payload/p.bin", t.path) == "payload\n");
  CHECK(iso::read_file(out, "/a dir/it's", t.path) == "quoted\n");
  iso::extract(out, "/boot", t / "x");
  CHECK(read_file(t / "x/grub/grub.cfg") == "echo live\n");
  CHECK(std::filesystem::file_size(t / "x/grub/i386-pc/eltorito.img") == std::filesystem::file_size(t / "eltorito.img"));

  auto boot = iso::extract_boot_images(out, t / "boot");
  CHECK(std::find(boot.begin(), boot.end(), "eltorito_img1_bios.img") != boot.end());
  CHECK(std::find(boot.begin(), boot.end(), "systemarea.img") != boot.end());
  REQUIRE(std::find(boot.begin(), boot.end(), "eltorito_img2_uefi.img") != boot.end());
  CHECK(read_file(t / "boot/eltorito_img2_uefi.img") == read_file(t / "efiboot.img"));
  // Bytes 8..63 hold the boot info table, 2548..2555 GRUB's (both patched in by xorriso).
  std::string bios = read_file(t / "boot/eltorito_img1_bios.img"), made = read_file(t / "eltorito.img");
  CHECK(bios.substr(64, 2548 - 64) == made.substr(64, 2548 - 64));
  CHECK(bios.substr(2556, made.size() - 2556) == made.substr(2556));

  std::string again = t / "again.iso";
  iso::write(s, again);
  CHECK(read_file(again) == read_file(out));  // reproducible with a timestamp

  SUBCASE("reader errors") {
    CHECK_THROWS_WITH_AS(iso::read_file(out, "/missing", t.path), doctest::Contains("has no /missing"), Error);
    CHECK_THROWS_WITH_AS(iso::extract(out, "/boot", t / "x"), doctest::Contains("already exists"), Error);
    CHECK_THROWS_WITH_AS(iso::list(t / "payload.bin"), doctest::Contains("is not an ISO 9660 image"), Error);
    CHECK_THROWS_AS(iso::list(t / "nothing.iso"), Error);
  }
  SUBCASE("a missing source is named, and nothing is written") {
    s.files.push_back({t / "nope", "/nope"});
    CHECK_THROWS_WITH_AS(iso::write(s, t / "bad.iso"), doctest::Contains("files[2] (/nope)"), Error);
    CHECK_FALSE(std::filesystem::exists(t / "bad.iso"));
  }
  SUBCASE("xorriso missing") {
    std::string saved = std::getenv("PATH");
    TempDir empty;
    ::setenv("PATH", empty.path.c_str(), 1);
    Error err(ErrorKind::Internal, "");
    try {
      iso::write(s, t / "bad.iso");
    } catch (const Error& e) {
      err = e;
    }
    ::setenv("PATH", saved.c_str(), 1);
    CHECK(err.kind() == ErrorKind::Unsupported);
    CHECK(std::string(err.what()).find("Debian package xorriso") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(t / "bad.iso"));
  }
}

TEST_CASE("iso: a data ISO; a separately given file replaces the tree's file at its path") {
  TempDir t;
  write_file(t / "tree/a/x", "from the tree\n");
  write_file(t / "tree/a/y", "kept\n");
  write_file(t / "extra", "given separately\n");
  iso::Spec s;
  s.volume_id = "DATA";
  s.tree = t / "tree";
  s.files = {{t / "extra", "/a/x"}};
  iso::write(s, t / "data.iso");
  CHECK(iso::read_file(t / "data.iso", "/a/x", t.path) == "given separately\n");
  CHECK(iso::read_file(t / "data.iso", "/a/y", t.path) == "kept\n");
  iso::BootReport r = iso::boot_report(t / "data.iso");
  CHECK(r.entries.empty());
  CHECK(r.gpt.empty());
  CHECK(r.volume_id == "DATA");
}

TEST_CASE("iso and squashfs parsers: mangled tool output is skipped or an Error, never a crash") {
  const std::string listing =
      "-rw-r--r--    1 0        0              11 Nov 30 21:35 '/boot/grub/grub.cfg'\n"
      "lrwxrwxrwx    1 0        0               0 Nov 30 21:35 '/link' -> 'a/it'\"'\"'s\\303'\n";
  const std::string sq =
      "crw-r--r-- 0/5                   1,  3 1970-01-12 13:46 /a/null\n"
      "lrwxrwxrwx 0/0                       3 1970-01-12 13:46 /link -> a/f\n";
  std::uint64_t seed = 42;
  auto next = [&] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>(seed >> 33);
  };
  const std::string alphabet = " '\"\\:,-0123456789x\n";
  for (int round = 0; round < 3000; ++round) {
    for (const std::string* base : {&listing, &sq, static_cast<const std::string*>(nullptr)}) {
      std::string text = base ? *base : kReport;
      for (int edits = 1 + static_cast<int>(next() % 4); edits > 0; --edits) {
        std::size_t at = next() % (text.size() + 1);
        switch (next() % 3) {
          case 0: text.erase(at, 1 + next() % 12); break;
          case 1: text.insert(at, 1, alphabet[next() % alphabet.size()]); break;
          default: text = text.substr(0, at); break;
        }
      }
      try {
        if (base == &listing) iso::parse_listing(text);
        else if (base == &sq) squashfs::parse_listing(text);
        else iso::parse_boot_report(text);
      } catch (const Error&) {
      }
    }
  }
  CHECK(true);
}

TEST_CASE("iso and squashfs: relative host paths starting with '-' are paths, not options") {
  TempDir t;
  write_file(t / "-tree/f", "dash\n");
  std::string cwd = std::filesystem::current_path().string();
  std::filesystem::current_path(t.path);
  std::string sq_size, listed, read;
  try {
    squashfs::create("-tree", "-root.sqfs", {});
    for (const auto& e : squashfs::list("-root.sqfs"))
      if (e.path == "/f") sq_size = std::to_string(e.size);
    iso::Spec s;
    s.volume_id = "DASH";
    s.tree = "-tree";
    s.files = {{"-root.sqfs", "/r.sqfs"}};
    iso::write(s, "-x.iso");
    for (const auto& e : iso::list("-x.iso")) listed += e.path + " ";
    read = iso::read_file("-x.iso", "/f", ".");
    squashfs::extract("-root.sqfs", "-x", {});
    make_fat_image("-tree", "-efi.img", {});
  } catch (...) {
    std::filesystem::current_path(cwd);
    throw;
  }
  std::filesystem::current_path(cwd);
  CHECK(sq_size == "5");
  CHECK(listed == "/ /f /r.sqfs ");
  CHECK(read == "dash\n");
  CHECK(read_file(t / "-x/f") == "dash\n");
  CHECK(out_of({"mtype", "-i", t / "-efi.img", "::/f"}) == "dash\n");
}
