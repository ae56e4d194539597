// imgrecipe command line: `build` (YAML config, also ALIC's `customize`
// spelling), `convert` (ALIC's), `run` (Lua recipe) and `validate`.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "host/cli/inspect.hpp"
#include "host/cli/schema.hpp"
#include "host/config/config.hpp"
#include "host/config/resources.hpp"
#include "host/fs/mount.hpp"
#include "host/system/cleanup.hpp"
#include "host/system/disk_space.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"
#include "host/system/signals.hpp"
#include "host/system/step_times.hpp"
#include "host/system/workspace.hpp"
#include "lua/runtime.hpp"

namespace {

using namespace imgrecipe;

constexpr const char* kUsage = R"(imgrecipe — customize Linux disk images without booting them

Usage:
  imgrecipe build CONFIG.yaml [options]       customize an image as a YAML config says
  imgrecipe [customize] --config-file F ...   the same, with ALIC's flags
  imgrecipe convert --image-file IN --output-image-file OUT --output-image-format FMT
                                              convert an image to another format
                                              (imgrecipe convert --help)
  imgrecipe run RECIPE.lua [--param K=V ...]  run a Lua recipe
  imgrecipe validate CONFIG.yaml              check a config and its baseConfigs (no root needed)
  imgrecipe validate-config --config-file F   the same, ALIC's spelling
  imgrecipe test FILE.lua...                  run Lua tests of recipes and libraries
  imgrecipe inspect IMAGE [--json]            describe an image: partitions, filesystems, OS,
                                              packages, users (read-only; docs/inspect.md)
  imgrecipe schema                            print the JSON Schema of the YAML config

Recipe options (run, test):
  --lib-path DIR                search DIR for `require`d libraries (repeatable); the library
                                path is the recipe's directory, --lib-path, IMGRECIPE_LIB_PATH
                                (colon-separated), $XDG_DATA_HOME/imgrecipe/lib (default
                                ~/.local/share/imgrecipe/lib), /usr/local/share/imgrecipe/lib,
                                /usr/share/imgrecipe/lib (docs/recipes.md)

Build options:
  --config-file F               the YAML (or JSON) config (ALIC spelling)
  --image-file F                input image; overrides input.image.path
  --output-image-file F         output image; overrides output.image.path (alias --output-path)
  --output-image-format FMT     raw, qcow2, vhd, vhd-fixed, vhdx, cosi, baremetal-image, iso,
                                pxe-dir, pxe-tar;
                                overrides output.image.format
  --cosi-compression-level N    zstd level 1..22 of cosi and baremetal-image outputs; overrides
                                output.image.cosi.compression.level (default 9; 22 for
                                baremetal-image)
  --build-dir D                 scratch directory (default /var/tmp/imgrecipe)
  --keep-build-dir              keep this run's working files for debugging
  --rpm-source PATH             tdnf/dnf package source: a directory of RPMs or a .repo file
                                (repeatable)
  --disable-base-image-rpm-repos  do not use the image's /etc/yum.repos.d
  --deb-source PATH             apt-get package source: a directory of .debs or an apt .list or
                                .sources file (repeatable)
  --disable-base-image-deb-repos  do not use the image's apt sources
  --package-manager NAME        tdnf, dnf or apt-get (default: detected from the image)

Validate options:
  --validate-resources files    also check that files the config names exist (sources,
                                password and SSH key files, scripts, package lists);
                                repeatable or comma-separated (oci, all: not supported)

Global options:
  --log-level L                 trace, debug, info (default), warn, error
  --log-format text|json        log line format
  --log-file F                  also append the log (debug level) to F
  --timestamp-file F            write the time spent in each step to F (JSON)
  --log-color always|auto|never, --disable-telemetry, --setfiles-context C
                                ALIC's; accepted (imgrecipe has no colors and no telemetry,
                                and setfiles runs in the image's sandbox)
  --version, --help
)";

constexpr const char* kConvertUsage = R"(imgrecipe convert — convert a disk image to another format (ALIC's convert)

Usage:
  imgrecipe convert --image-file IN --output-image-file OUT --output-image-format FMT [options]

The input (vhd, vhd-fixed, vhdx, qcow2 or raw, detected from its content; ISO
images are refused) is never written; the output appears atomically.

Options:
  --image-file F                the input image (required)
  --output-image-file F         the output file (required; alias --output-path)
  --output-image-format FMT     raw, qcow2, vhd, vhd-fixed, vhdx: converted in one qemu-img pass;
                                cosi, baremetal-image: the OS is read from the image, ext2/3/4
                                filesystems that exactly fill their partition are shrunk, the
                                partitions compressed (docs/cosi.md) (required)
  --cosi-compression-level N    zstd level 1..22 for cosi (default 9) and baremetal-image
                                (default 22)
  --build-dir D                 scratch directory (default /var/tmp/imgrecipe); cosi and
                                baremetal-image need room there for a raw copy of the image
  --keep-build-dir              keep this run's working files for debugging
  --log-level L, --log-format text|json, --log-file F
)";

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
  // Every value of each --param key, in order.
  std::map<std::string, std::vector<std::string>> params;
  // Repeatable flags (--rpm-source, --deb-source).
  std::map<std::string, std::vector<std::string>> lists;
  bool keep = false;
  bool help = false;
};

const std::vector<std::string> kValueFlags = {"config-file",   "image-file",  "output-image-file", "output-path",
                                              "output-image-format", "build-dir", "log-level", "log-format",
                                              "log-file",      "param",       "validate-resources", "rpm-source", "deb-source",
                                              "package-manager", "cosi-compression-level",
                                              // ALIC's, accepted for its command lines (see main()).
                                              "log-color", "timestamp-file", "setfiles-context", "tools-dir",
                                              "image", "image-cache-dir", "package-snapshot-time",
                                              "output-selinux-policy-path",
                                              "lib-path"};
const std::vector<std::string> kListFlags = {"rpm-source", "deb-source", "lib-path"};
const std::vector<std::string> kBoolFlags = {"disable-base-image-rpm-repos", "disable-base-image-deb-repos",
                                             "disable-telemetry"};

Args parse(int argc, char** argv) {
  Args a;
  std::vector<std::string> in(argv + 1, argv + argc);
  size_t i = 0;
  static const std::vector<std::string> commands = {"build", "customize", "convert", "run", "validate",
                                                    "validate-config", "test", "help", "version",
                                                    "inspect", "schema"};
  for (; i < in.size(); ++i) {
    const std::string& s = in[i];
    if (s.rfind("--", 0) == 0) {
      std::string name = s.substr(2), value;
      auto eq = name.find('=');
      bool has_value = eq != std::string::npos;
      if (has_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (name == "help") a.help = true;
      else if (name == "version") a.command = "version";
      else if (name == "keep-build-dir") a.keep = true;
      else if (name == "json") a.flags[name] = "true";  // inspect
      else if (std::find(kBoolFlags.begin(), kBoolFlags.end(), name) != kBoolFlags.end()) a.flags[name] = "true";
      else if (std::find(kValueFlags.begin(), kValueFlags.end(), name) != kValueFlags.end()) {
        if (!has_value) {
          if (i + 1 >= in.size()) throw_usage(fmt::format("--{} needs a value", name));
          value = in[++i];
        }
        if (name == "param") {
          auto e = value.find('=');
          if (e == std::string::npos || e == 0) throw_usage(fmt::format("--param expects KEY=VALUE, got '{}'", value));
          a.params[value.substr(0, e)].push_back(value.substr(e + 1));
        } else if (std::find(kListFlags.begin(), kListFlags.end(), name) != kListFlags.end()) {
          a.lists[name].push_back(value);
        } else {
          if (name == "output-path") name = "output-image-file";
          if (name == "validate-resources" && a.flags.count(name)) value = a.flags[name] + "," + value;
          a.flags[name] = value;
        }
      } else {
        throw_usage(fmt::format("unknown option --{} (see imgrecipe --help)", name));
      }
    } else if (a.command.empty() && std::find(commands.begin(), commands.end(), s) != commands.end()) {
      a.command = s;
    } else {
      a.positional.push_back(s);
    }
  }
  if (a.help && a.command != "convert") a.command = "help";
  if (a.command.empty()) a.command = a.flags.count("config-file") ? "customize" : "help";
  if (a.command == "customize") a.command = "build";
  if (a.command == "validate-config") a.command = "validate";
  return a;
}

std::string flag(const Args& a, const std::string& name, const std::string& def = "") {
  auto it = a.flags.find(name);
  return it == a.flags.end() ? def : it->second;
}

std::string config_path(const Args& a) {
  std::string path = flag(a, "config-file");
  if (path.empty() && !a.positional.empty()) path = a.positional[0];
  if (path.empty()) throw_usage("no config file given (imgrecipe build CONFIG.yaml, or --config-file)");
  return path;
}

void require_root(const std::string& what) {
  if (geteuid() != 0) {
    throw_usage(fmt::format("imgrecipe {} must run as root: it attaches loop devices and mounts filesystems", what));
  }
}

int run_with_recipe(const Args& a, lua::RecipeRun run) {
  require_root(a.command);
  signals::install();
  enter_private_mount_namespace();
  std::string build_dir = flag(a, "build-dir", "/var/tmp/imgrecipe");
  std::error_code ec;
  if (std::filesystem::exists(build_dir, ec) && !std::filesystem::is_directory(build_dir, ec)) {
    throw_usage(fmt::format("--build-dir {} is not a directory", build_dir));
  }
  Workspace ws(build_dir, a.keep);
  // Destroyed before `ws`: everything is released, also on an error, before
  // the run directory goes.
  struct ReleaseAll {
    ~ReleaseAll() { teardown().release_all(); }
  } release_all;
  run.build_dir = ws.build_dir();
  run.work_dir = ws.path();
  space::set_build_dir(ws.build_dir());
  try {
    lua::run_recipe(run);
  } catch (const Error& e) {
    throw space::explain(e);  // checked before the run directory (and the working copy) goes
  }
  return 0;
}

int cmd_build(const Args& a) {
  lua::RecipeRun run;
  run.recipe = "builtin:yaml";
  run.params["config"] = std::filesystem::absolute(config_path(a)).string();
  auto pass = [&](const char* f, const char* p) {
    std::string v = flag(a, f);
    if (!v.empty()) run.params[p] = std::filesystem::absolute(v).string();
  };
  pass("image-file", "image_file");
  pass("output-image-file", "output_image_file");
  if (auto v = flag(a, "output-image-format"); !v.empty()) run.params["output_image_format"] = v;
  for (const auto& [f, p] : {std::pair{"rpm-source", "rpm_sources"}, std::pair{"deb-source", "deb_sources"}}) {
    auto it = a.lists.find(f);
    if (it == a.lists.end()) continue;
    for (const auto& v : it->second) run.list_params[p].push_back(std::filesystem::absolute(v).string());
  }
  for (const auto& f : kBoolFlags) {
    if (f != "disable-telemetry" && !flag(a, f).empty()) {
      std::string p = f;
      std::replace(p.begin(), p.end(), '-', '_');
      run.params[p] = "true";
    }
  }
  if (auto v = flag(a, "package-manager"); !v.empty()) run.params["package_manager"] = v;
  if (auto v = flag(a, "cosi-compression-level"); !v.empty()) run.params["cosi_compression_level"] = v;
  return run_with_recipe(a, run);
}

// ALIC's convert: the built-in recipe recipes/convert.lua. Its flags only.
int cmd_convert(const Args& a) {
  if (!a.positional.empty())
    throw_usage(fmt::format("imgrecipe convert takes no positional argument ('{}'); see imgrecipe convert --help",
                            a.positional[0]));
  for (const char* f : {"config-file", "rpm-source", "deb-source", "disable-base-image-rpm-repos",
                        "disable-base-image-deb-repos", "package-manager", "param", "validate-resources"}) {
    if (a.flags.count(f) || a.lists.count(f) || (std::string(f) == "param" && !a.params.empty()))
      throw_usage(fmt::format("imgrecipe convert does not take --{}; see imgrecipe convert --help", f));
  }
  static const std::pair<const char*, const char*> kRequired[] = {
      {"image-file", "the input image"},
      {"output-image-file", "the output file; alias --output-path"},
      {"output-image-format", "raw, qcow2, vhd, vhd-fixed, vhdx, cosi or baremetal-image"}};
  for (const auto& r : kRequired) {
    if (flag(a, r.first).empty())
      throw_usage(fmt::format("imgrecipe convert needs --{} ({}); see imgrecipe convert --help", r.first, r.second));
  }
  lua::RecipeRun run;
  run.recipe = "builtin:convert";
  run.params["image_file"] = std::filesystem::absolute(flag(a, "image-file")).string();
  run.params["output_image_file"] = std::filesystem::absolute(flag(a, "output-image-file")).string();
  run.params["output_image_format"] = flag(a, "output-image-format");
  if (auto v = flag(a, "cosi-compression-level"); !v.empty()) run.params["cosi_compression_level"] = v;
  return run_with_recipe(a, run);
}

// --lib-path DIR (repeatable): see host/system/library_path.hpp.
std::vector<std::string> lib_paths(const Args& a) {
  auto it = a.lists.find("lib-path");
  return it == a.lists.end() ? std::vector<std::string>{} : it->second;
}

int cmd_run(const Args& a) {
  if (a.positional.empty()) throw_usage("imgrecipe run needs a recipe file");
  lua::RecipeRun run;
  run.recipe = a.positional[0];
  run.lib_paths = lib_paths(a);
  // A key given more than once becomes a list parameter.
  for (const auto& [k, values] : a.params) {
    if (values.size() == 1) run.params[k] = values[0];
    else run.list_params[k] = values;
  }
  return run_with_recipe(a, run);
}

// What --validate-resources asks for (repeatable, comma-separated): files, oci, all.
bool validate_files_requested(const Args& a) {
  bool files = false;
  std::string list = flag(a, "validate-resources");
  size_t start = 0;
  while (!list.empty() && start <= list.size()) {
    size_t end = std::min(list.find(',', start), list.size());
    std::string v = list.substr(start, end - start);
    start = end + 1;
    if (v == "files") {
      files = true;
    } else if (v == "oci" || v == "all") {
      throw_usage(fmt::format("--validate-resources {}: checking OCI artifacts (download and notary signature) is not "
                              "supported by imgrecipe; use --validate-resources files",
                              v));
    } else {
      throw_usage(fmt::format("--validate-resources: unknown value '{}' (expected files, oci or all)", v));
    }
  }
  return files;
}

// Needs no root. Warnings go to stderr; the verdict and notes to stdout.
int cmd_validate(const Args& a) {
  const std::string path = config_path(a);
  const bool files = validate_files_requested(a);
  auto chain = config::load_chain(path);
  for (const auto& w : chain.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (files) config::check_resource_files(chain);
  std::printf("%s: valid\n", path.c_str());
  for (const auto& u : config::unsupported_keys(chain)) {
    std::printf("%s:%d:%d: note: %s is valid but not supported by imgrecipe yet\n", u.path.c_str(), u.mark.line,
                u.mark.column, u.key.c_str());
  }
  return 0;
}

// ALIC's flags that imgrecipe accepts so ALIC command lines run unchanged:
// the ones with nothing to do here are checked and noted, the ones for
// features imgrecipe lacks fail clearly.
void check_alic_flags(const Args& a) {
  if (auto v = flag(a, "log-color"); !v.empty() && v != "always" && v != "auto" && v != "never") {
    throw_usage(fmt::format("--log-color {}: expected always, auto or never", v));
  }
  if (!flag(a, "setfiles-context").empty()) {
    log::info("--setfiles-context: not needed (setfiles runs in the image's sandbox with the image's policy)");
  }
  for (const char* f : {"tools-dir", "image", "image-cache-dir", "package-snapshot-time",
                        "output-selinux-policy-path"}) {
    if (!flag(a, f).empty()) {
      Error e(ErrorKind::Unsupported, fmt::format("--{} is not supported by imgrecipe yet", f));
      throw e;
    }
  }
}

int exit_code_for(const Error& e) {
  if (e.kind() == ErrorKind::Interrupted) return 128 + (signals::received() != 0 ? signals::received() : 2);
  if (e.kind() == ErrorKind::Usage) return 2;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Args a = parse(argc, argv);
    if (auto v = flag(a, "log-level"); !v.empty()) log::set_level(log::parse_level(v));
    if (auto v = flag(a, "log-format"); !v.empty()) {
      if (v != "text" && v != "json") throw_usage("--log-format must be text or json");
      log::set_format_json(v == "json");
    }
    if (auto v = flag(a, "log-file"); !v.empty()) log::set_file(v);
    check_alic_flags(a);
    const std::string timestamps = flag(a, "timestamp-file");
    if (!timestamps.empty()) step_times::enable();
    // Written on success and on failure: how far a failed build got is useful too.
    struct SaveTimes {
      const std::string& path;
      ~SaveTimes() {
        if (path.empty()) return;
        try {
          step_times::write(path);
        } catch (const Error& e) {
          log::warn("{}", e.what());
        }
      }
    } save_times{timestamps};
    if (a.command == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a.command == "convert" && a.help) {
      std::fputs(kConvertUsage, stdout);
      return 0;
    }
    if (a.command == "version") {
      std::printf("imgrecipe %s (recipe API %d)\n", IMGRECIPE_VERSION, lua::kApiVersion);
      return 0;
    }
    if (a.command == "build") return cmd_build(a);
    if (a.command == "convert") return cmd_convert(a);
    if (a.command == "run") return cmd_run(a);
    if (a.command == "validate") return cmd_validate(a);
    if (a.command == "inspect") return cli::cmd_inspect(a.positional, !flag(a, "json").empty(), flag(a, "build-dir"));
    if (a.command == "schema") return cli::cmd_schema();
    if (a.command == "test") {
      if (a.positional.empty()) throw_usage("imgrecipe test needs Lua test files");
      return lua::run_tests(a.positional, lib_paths(a)) == 0 ? 0 : 1;
    }
    throw_usage("unknown command " + a.command);
  } catch (const Error& e) {
    log::error("{}", describe(e));
    return exit_code_for(e);
  } catch (const std::exception& e) {
    log::error("internal error: {}", e.what());
    return 1;
  }
}
