#include "host/cli/inspect.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "host/fs/mount.hpp"
#include "host/inspect/disk.hpp"
#include "host/inspect/os.hpp"
#include "host/inspect/report.hpp"
#include "host/inspect/source.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/signals.hpp"
#include "host/system/workspace.hpp"

namespace imgrecipe::cli {

int cmd_inspect(const std::vector<std::string>& args, bool json, const std::string& scratch_dir) {
  if (args.size() != 1) throw_usage("imgrecipe inspect needs exactly one image (imgrecipe inspect IMAGE [--json])");
  const std::string& path = args[0];
  if (!std::filesystem::is_regular_file(path)) throw_usage(fmt::format("imgrecipe inspect: {} is not a file", path));
  signals::install();
  std::string base = scratch_dir;
  if (base.empty()) {
    const char* t = ::getenv("TMPDIR");
    base = t && *t ? t : "/var/tmp";
  }
  // Copies the tools need (a raw copy of a qcow2, a COSI disk, an ISO's
  // squashfs); removed on return, error or interruption (SIGINT/SIGTERM
  // stop the running tool and unwind here).
  std::string scratch = base + "/imgrecipe-inspect-XXXXXX";
  if (::mkdtemp(scratch.data()) == nullptr) throw_system("create a temporary directory in", base, errno);
  struct Remove {
    std::string dir;
    ~Remove() {
      try {
        remove_tree_one_fs(dir);  // never across a mount
      } catch (const std::exception& e) {
        log::error("removing {}: {}", dir, e.what());
      }
    }
  } remove{scratch};
  // As root, xfs and btrfs are read through read-only mounts, made in a
  // private mount namespace so none outlives this process.
  std::string mount_dir;
  if (::geteuid() == 0) {
    enter_private_mount_namespace();
    mount_dir = scratch;
  }

  inspect::Report r;
  r.path = path;
  r.source = inspect::open_source(path, scratch);
  std::vector<std::unique_ptr<inspect::Tree>> trees;
  inspect::View view;
  signals::check();
  if (!r.source.disk.empty()) {
    r.disk = inspect::read_disk(r.source.disk);
    signals::check();
    inspect::assemble(r.source.disk, r.disk, trees, view, r.notes, mount_dir);
  } else {
    inspect::FsEntry fs;
    fs.type = "squashfs";
    fs.size = std::filesystem::file_size(r.source.squashfs);
    fs.used = fs.size;
    fs.mount_point = "/";
    r.disk.filesystems.push_back(fs);
    trees.push_back(inspect::squashfs_tree(r.source.squashfs));
    view.mount("/", trees.back().get());
  }
  if (!view.empty()) {
    r.os = inspect::read_os(view, scratch);
    // A live ISO boots with its media's grub.cfg, not the OS's own.
    if (!r.source.iso_grub_cfg.empty()) {
      auto entries = inspect::parse_grub_cfg(r.source.iso_grub_cfg);
      for (auto& e : entries) e.source = "iso:/boot/grub/grub.cfg";
      if (!entries.empty()) {
        r.os->bootloader = "grub";
        r.os->cmdline = entries.front().cmdline;
        r.os->boot_entries.insert(r.os->boot_entries.begin(), entries.begin(), entries.end());
      }
    }
  }
  // A signal that came while no tool was running: fail rather than report.
  signals::check();
  const std::string text = json ? inspect::to_json(r) : inspect::to_text(r);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace imgrecipe::cli
