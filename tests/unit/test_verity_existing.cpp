#include <doctest.h>

#include <string>
#include <vector>

#include "host/fs/verity_existing.hpp"
#include "host/system/error.hpp"

using namespace imgrecipe;

TEST_CASE("verity_existing: kernel arguments of the first linux line of grub.cfg") {
  const std::string cfg =
      "set timeout=0\n"
      "menuentry 'Debian' {\n"
      "\tlinux\t/vmlinuz-6.1 rd.systemd.verity=1 roothash=ab systemd.verity_root_data=PARTUUID=1 "
      "\"console=ttyS0,115200n8\" ro\n"
      "\tinitrd /initrd.img\n}\n"
      "menuentry 'other' {\n linux /vmlinuz-old quiet\n}\n";
  auto args = grub_cfg_kernel_args(cfg);
  REQUIRE(args.size() == 5);
  CHECK(args[0] == "rd.systemd.verity=1");
  CHECK(args[3] == "console=ttyS0,115200n8");
  CHECK(grub_cfg_kernel_args("set a=1\n").empty());
  CHECK(grub_cfg_kernel_args("  linuxefi /k a=b\n") == std::vector<std::string>{"a=b"});
}

TEST_CASE("verity_existing: verity device names from systemd.verity_<name>_data") {
  std::vector<std::string> args = {"rd.systemd.verity=1", "usrhash=00", "systemd.verity_usr_hash=PARTLABEL=h",
                                   "systemd.verity_usr_data=PARTLABEL=usr", "systemd.verity_root_data=UUID=x",
                                   "systemd.verity_usr_options=,hash-offset=4096"};
  CHECK(verity_names_in_args(args) == std::vector<std::string>{"usr", "root"});
  CHECK(verity_names_in_args({"root=/dev/sda2"}).empty());
}

TEST_CASE("verity_existing: errors name the missing argument") {
  std::vector<DiskPartition> parts(1);
  parts[0].part.number = 3;
  parts[0].part.label = "usr";
  try {
    find_existing_verity("usr", {"systemd.verity_usr_data=PARTLABEL=usr"}, parts, "/nonexistent");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("systemd.verity_usr_hash=") != std::string::npos);
  }
  try {
    find_existing_verity("usr", {"systemd.verity_usr_data=PARTLABEL=nope"}, parts, "/nonexistent");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("matches no partition") != std::string::npos);
  }
  try {
    find_existing_verity("usr", {"systemd.verity_usr_data=/dev/sda3"}, parts, "/nonexistent");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("expected PARTUUID=, PARTLABEL= or UUID=") != std::string::npos);
  }
}
