// Package manager command lines, .repo handling and source classification
// (host/packages). tdnf is not available on the test machines: its command
// construction is covered here only.
#include <doctest.h>

#include "host/packages/manager.hpp"
#include "host/packages/sources.hpp"
#include "host/system/error.hpp"

using namespace imgrecipe;
using namespace imgrecipe::packages;
using V = std::vector<std::string>;

namespace {
CommandContext ctx(Manager m) {
  CommandContext c;
  c.manager = m;
  return c;
}
}  // namespace

TEST_CASE("manager names") {
  CHECK(parse_manager("tdnf") == Manager::Tdnf);
  CHECK(parse_manager("dnf") == Manager::Dnf);
  CHECK(parse_manager("apt-get") == Manager::AptGet);
  CHECK(parse_manager("apt") == Manager::AptGet);
  CHECK_THROWS_WITH_AS(parse_manager("yum"), doctest::Contains("unknown package manager 'yum'"), Error);
  CHECK(std::string(to_string(Manager::AptGet)) == "apt-get");
  CHECK(is_rpm(Manager::Tdnf));
  CHECK_FALSE(is_rpm(Manager::AptGet));
}

TEST_CASE("tdnf command lines (as ALIC)") {
  auto c = ctx(Manager::Tdnf);
  CHECK(refresh_command(c) == V{"tdnf", "check-update", "--refresh", "--assumeyes",
                                "--setopt=skip_if_unavailable=False", "--setopt=reposdir=/_localrpms"});
  CHECK(remove_command(c, {"a", "b"}) == V{"tdnf", "remove", "--assumeyes", "--disablerepo", "*", "a", "b"});
  CHECK_FALSE(autoremove_command(c).has_value());
  CHECK(update_existing_command(c) ==
        V{"tdnf", "update", "--assumeyes", "--cacheonly", "--setopt=reposdir=/_localrpms"});
  CHECK(install_command(c, {"x"}) ==
        V{"tdnf", "install", "--assumeyes", "--cacheonly", "--setopt=reposdir=/_localrpms", "x"});
  CHECK(update_command(c, {"x", "y"}) ==
        V{"tdnf", "update", "--assumeyes", "--cacheonly", "--setopt=reposdir=/_localrpms", "x", "y"});
  CHECK(clean_command(c) == V{"tdnf", "clean", "all"});
  CHECK(remove_manager_command(c, {"tdnf", "rpm"}) ==
        V{"tdnf", "--assumeyes", "--disablerepo", "*", "--setopt=protected_packages=", "remove", "tdnf", "rpm"});
  CHECK(installed_query(Manager::Tdnf, "rpm") == V{"rpm", "-q", "--", "rpm"});
  c.releasever = "3.0";
  CHECK(install_command(c, {"x"})[1] == "--releasever=3.0");
}

TEST_CASE("dnf command lines: dnf 4 and dnf 5") {
  auto c = ctx(Manager::Dnf);
  CHECK(install_command(c, {"x"}) ==
        V{"dnf", "install", "--assumeyes", "--cacheonly", "--setopt=reposdir=/_localrpms", "x"});
  c.dnf5 = true;
  CHECK(install_command(c, {"x"}) == V{"dnf", "install", "--assumeyes", "--cacheonly", "--setopt=reposdir=/_localrpms",
                                       "--setopt=cacheonly=metadata", "x"});
  CHECK(update_existing_command(c).back() == "--setopt=cacheonly=metadata");
  CHECK(refresh_command(c)[1] == "check-update");
  CHECK(clean_command(c) == V{"dnf", "clean", "all"});
  CHECK(manager_packages(Manager::Dnf) == V{"tdnf", "dnf", "dnf5", "rpm"});
  auto dirs = manager_dirs(Manager::Dnf);
  CHECK(std::find(dirs.begin(), dirs.end(), "/var/lib/rpm") != dirs.end());
  CHECK(std::find(dirs.begin(), dirs.end(), "/var/cache/tdnf") != dirs.end());
}

TEST_CASE("apt-get command lines") {
  auto c = ctx(Manager::AptGet);
  c.apt_options = {"Dir::Etc::SourceList=/x.list"};
  V base{"apt-get", "--yes", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
         "-o", "Dir::Etc::SourceList=/x.list"};
  auto with = [&](V tail) {
    V v = base;
    v.insert(v.end(), tail.begin(), tail.end());
    return v;
  };
  CHECK(refresh_command(c) == with({"update"}));
  CHECK(remove_command(c, {"a"}) == with({"purge", "a"}));
  REQUIRE(autoremove_command(c).has_value());
  CHECK(*autoremove_command(c) == with({"autoremove"}));
  CHECK(update_existing_command(c) == with({"upgrade"}));
  CHECK(install_command(c, {"a", "b"}) == with({"install", "--no-install-recommends", "--no-install-suggests", "a", "b"}));
  CHECK(update_command(c, {"a"}) == with({"install", "--only-upgrade", "a"}));
  CHECK(clean_command(c) == with({"clean"}));
  CHECK(remove_manager_command(c, {"apt"}) ==
        with({"purge", "--auto-remove", "--allow-remove-essential", "--", "apt"}));
  CHECK(manager_packages(Manager::AptGet) == V{"apt", "apt-utils"});
  CHECK(manager_dirs(Manager::AptGet) == V{"/var/lib/apt", "/var/cache/apt"});
  CHECK(installed_query(Manager::AptGet, "tree") == V{"dpkg-query", "-W", "-f=${Status}", "--", "tree"});
}

TEST_CASE("apt options keep lists and downloads out of the image") {
  auto o = apt_options({"/etc/apt/sources.list", "/_localdebs/sources.list.d", "/_localdebs-state"});
  CHECK(o == V{"Dir::Etc::SourceList=/etc/apt/sources.list", "Dir::Etc::SourceParts=/_localdebs/sources.list.d",
               "Dir::State::Lists=/_localdebs-state/lists", "Dir::Cache::Archives=/_localdebs-state/archives",
               "APT::Sandbox::User=root"});
  CHECK(flat_repo_line("/_localdebs/00-repo-debs") == "deb [trusted=yes] file:/_localdebs/00-repo-debs ./\n");
}

TEST_CASE("source classification") {
  CHECK(classify_source("/a/rpms", true, Manager::Dnf) == SourceKind::RpmDir);
  CHECK(classify_source("/a/rpms", true, Manager::Tdnf) == SourceKind::RpmDir);
  CHECK(classify_source("/a/debs", true, Manager::AptGet) == SourceKind::DebDir);
  CHECK(classify_source("/a/x.repo", false, Manager::Tdnf) == SourceKind::RepoFile);
  CHECK(classify_source("/a/x.list", false, Manager::AptGet) == SourceKind::AptList);
  CHECK(classify_source("/a/x.sources", false, Manager::AptGet) == SourceKind::AptSources);
  CHECK_THROWS_WITH_AS(classify_source("/a/x.repo", false, Manager::AptGet),
                       doctest::Contains("an apt .list or .sources file"), Error);
  CHECK_THROWS_WITH_AS(classify_source("/a/x.list", false, Manager::Dnf), doctest::Contains("a .repo file"), Error);
  CHECK_THROWS_AS(classify_source("/a/x.rpm", false, Manager::Dnf), Error);
}

TEST_CASE(".repo parsing and rendering") {
  auto secs = parse_repo_file(
      "# comment\n[base]\nname=Base\nbaseurl=http://a/x\n  http://b/x\n; other\n[extra]\nenabled = 0\n", "t.repo");
  REQUIRE(secs.size() == 2);
  CHECK(secs[0].id == "base");
  REQUIRE(secs[0].get("baseurl"));
  CHECK(*secs[0].get("baseurl") == "http://a/x http://b/x");
  CHECK(*secs[1].get("enabled") == "0");
  CHECK(render_repo_file(secs) == "[base]\nname=Base\nbaseurl=http://a/x http://b/x\n\n[extra]\nenabled=0\n");
  CHECK_THROWS_WITH_AS(parse_repo_file("a=b\n", "t.repo"), doctest::Contains("t.repo:1: rpm repo config files must not contain keys outside"), Error);
  CHECK_THROWS_WITH_AS(parse_repo_file("[a]\n[a]\n", "t.repo"), doctest::Contains("t.repo:2: repository 'a' defined twice"), Error);
  CHECK_THROWS_AS(parse_repo_file("[a]\njunk\n", "t.repo"), Error);
}

TEST_CASE("local directory repositories have GPG checks off") {
  auto s = local_dir_repo("00-baseurl-rpms", "/_localrpms/00-baseurl-rpms");
  CHECK(render_repo_file({s}) ==
        "[00-baseurl-rpms]\nname=00-baseurl-rpms\nbaseurl=file:///_localrpms/00-baseurl-rpms\nenabled=1\n"
        "gpgcheck=0\nrepo_gpgcheck=0\n");
  CHECK(mount_name(3, "gpgkey", "/keys/RPM-GPG-KEY/") == "03-gpgkey-RPM-GPG-KEY");
}

TEST_CASE("host .repo files: local URIs are bound into the image, gpg kept") {
  auto secs = parse_repo_file(
      "[local]\nbaseurl=file+rel://repo\ngpgcheck=1\ngpgkey=file:///keys/k1 file+chroot:///etc/pki/k2 https://h/k3\n"
      "[remote]\nbaseurl=https://example.invalid/repo\n",
      "/cfg/my.repo");
  V bound;
  int n = 0;
  auto keys = rewrite_host_repo(secs, "/cfg/my.repo", [&](const std::string& field, const std::string& host) {
    bound.push_back(field + "=" + host);
    return "/_localrpms/" + mount_name(n++, field, host);
  });
  CHECK(bound == V{"baseurl=/cfg/repo", "gpgkey=/keys/k1"});
  CHECK(*secs[0].get("baseurl") == "file:///_localrpms/00-baseurl-repo");
  CHECK(*secs[0].get("gpgkey") == "file:///_localrpms/01-gpgkey-k1 file:///etc/pki/k2 https://h/k3");
  CHECK(*secs[0].get("gpgcheck") == "1");
  CHECK(*secs[1].get("baseurl") == "https://example.invalid/repo");
  CHECK(keys == V{"/_localrpms/01-gpgkey-k1", "/etc/pki/k2"});

  auto nobase = parse_repo_file("[x]\nname=x\n", "/cfg/x.repo");
  CHECK_THROWS_WITH_AS(rewrite_host_repo(nobase, "/cfg/x.repo", [](auto&, auto&) { return std::string(); }),
                       doctest::Contains("repository 'x' has no baseurl"), Error);
}
