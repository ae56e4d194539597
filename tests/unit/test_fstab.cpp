// fs/os_mount: fstab parsing gives each entry its line, for messages that
// point at the line to fix.
#include <doctest.h>

#include "host/fs/os_mount.hpp"

using namespace imgrecipe;

TEST_CASE("parse_fstab numbers entries by their line in the file") {
  std::string text =
      "# /etc/fstab\n"
      "\n"
      "UUID=1111 /\text4 defaults 0 1\n"
      "  # a comment mentioning /boot/efi\n"
      "LABEL=esp /boot/efi vfat umask=0077 0 1\n"
      "/dev/vdb1 /mnt/with\\040space ext4 nofail 0 2\n"
      "tmpfs /tmp tmpfs defaults 0 0";  // no final newline
  auto e = parse_fstab(text);
  REQUIRE(e.size() == 4);
  CHECK(e[0].source == "UUID=1111");
  CHECK(e[0].target == "/");
  CHECK(e[0].line == 3);
  CHECK(e[0].text == "UUID=1111 /\text4 defaults 0 1");
  CHECK(e[1].line == 5);
  CHECK(e[1].source == "LABEL=esp");
  CHECK(e[2].target == "/mnt/with space");
  CHECK(e[2].line == 6);
  CHECK(e[3].line == 7);
  CHECK(e[3].text == "tmpfs /tmp tmpfs defaults 0 0");
}

TEST_CASE("parse_fstab: the same target twice gets two lines") {
  auto e = parse_fstab("/dev/a1 /data ext4 defaults 0 0\n/dev/a2 /data ext4 defaults 0 0\n");
  REQUIRE(e.size() == 2);
  CHECK(e[0].line == 1);
  CHECK(e[1].line == 2);
}
