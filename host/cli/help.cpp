// The usage texts of the subcommands (the global one is in main.cpp).
#include "host/cli/help.hpp"

#include <cstring>

#include "host/cli/inject_files.hpp"
#include "host/cli/translate.hpp"

namespace imgrecipe::cli {
namespace {

constexpr const char* kBuildUsage = R"(imgrecipe build — customize an image as a YAML config says

Usage:
  imgrecipe build CONFIG.yaml [options]
  imgrecipe [customize] --config-file CONFIG.yaml [options]   (ALIC's spelling)

Runs the built-in recipe recipes/yaml.lua (`imgrecipe translate CONFIG.yaml`
prints the same steps as a Lua recipe). Needs root. Ends with a summary line:
output path, format, size and time.

Options:
  --config-file F               the YAML (or JSON) config
  --image-file F                input image; overrides input.image.path
  --output-image-file F         output image; overrides output.image.path (alias --output-path)
  --output-image-format FMT     raw, qcow2, vhd, vhd-fixed, vhdx, cosi, baremetal-image, iso,
                                pxe-dir, pxe-tar; overrides output.image.format
  --cosi-compression-level N    zstd level 1..22 of cosi and baremetal-image outputs
  --rpm-source PATH             tdnf/dnf package source (repeatable)
  --disable-base-image-rpm-repos  do not use the image's /etc/yum.repos.d
  --deb-source PATH             apt-get package source (repeatable)
  --disable-base-image-deb-repos  do not use the image's apt sources
  --package-manager NAME        tdnf, dnf or apt-get (default: detected from the image)
  --build-dir D                 scratch directory (default /var/tmp/imgrecipe)
  --keep-build-dir              keep this run's working files for debugging
  --log-level L, --log-format text|json, --log-file F, --timestamp-file F
)";

constexpr const char* kRunUsage = R"(imgrecipe run — run a Lua recipe (docs/lua-api.md)

Usage:
  imgrecipe run RECIPE.lua [--param KEY=VALUE ...] [options]
  imgrecipe run RECIPE.lua --help     the recipe's description and parameters

A KEY given more than once is a list parameter. Needs root. Ends with a
summary line for each output written: path, format, size and time.

Options:
  --param KEY=VALUE             a recipe parameter (repeatable)
  --lib-path DIR                search DIR for required libraries (repeatable; docs/recipes.md)
  --build-dir D                 scratch directory (default /var/tmp/imgrecipe)
  --keep-build-dir              keep this run's working files for debugging
  --log-level L, --log-format text|json, --log-file F, --timestamp-file F
)";

constexpr const char* kValidateUsage = R"(imgrecipe validate — check a config and its baseConfigs

Usage:
  imgrecipe validate CONFIG.yaml [--validate-resources files]
  imgrecipe validate-config --config-file CONFIG.yaml        (ALIC's spelling)

Problems are listed as file:line:column: field: message. Needs no root.

Options:
  --validate-resources files    also check that files the config names exist (sources,
                                password and SSH key files, scripts, package lists);
                                repeatable or comma-separated (oci, all: not supported)
)";

constexpr const char* kTestUsage = R"(imgrecipe test — run Lua tests of recipes and libraries

Usage:
  imgrecipe test [--lib-path DIR ...] FILE.lua...

Each file returns a table of test_* functions taking `t` (assertions: see
docs/testing.md). Prints one line per test and "N passed, N failed"; exits 1
if any failed. Needs no root.
)";

constexpr const char* kConvertUsage = R"(imgrecipe convert — convert a disk image to another format (ALIC's convert)

Usage:
  imgrecipe convert --image-file IN --output-image-file OUT --output-image-format FMT [options]

The input (vhd, vhd-fixed, vhdx, qcow2 or raw, detected from its content; ISO
images are refused) is never written; the output appears atomically. Ends
with a summary line: output path, format, size and time.

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

constexpr const char* kInspectUsage = R"(imgrecipe inspect — describe an image without changing it (docs/inspect.md)

Usage:
  imgrecipe inspect IMAGE [--json] [--build-dir D]

IMAGE is raw, qcow2, vhd, vhdx, COSI, a LiveOS ISO or a squashfs. Reports the
partition table, filesystems (type, label, UUID, size, used), the OS
(os-release, kernels, boot loader, kernel command line, init system),
installed packages and users. Read-only; needs no root except for xfs and
btrfs filesystems (skipped with a note otherwise).

Options:
  --json                        machine-readable output (fields in docs/inspect.md)
  --build-dir D                 scratch directory for converted inputs (default /var/tmp/imgrecipe)
)";

constexpr const char* kSchemaUsage = R"(imgrecipe schema — print the JSON Schema of the YAML config

Usage:
  imgrecipe schema > imgrecipe.schema.json

For YAML language servers (docs/config.md, "Editor support"). Needs no root.
)";

struct Row {
  const char* command;
  const char* usage;
};

// One row per subcommand (aliases map in main.cpp's parse()).
const Row kRows[] = {
    {"build", kBuildUsage},
    {"run", kRunUsage},
    {"validate", kValidateUsage},
    {"test", kTestUsage},
    {"convert", kConvertUsage},
    {"translate", kTranslateUsage},
    {"inspect", kInspectUsage},
    {"schema", kSchemaUsage},
    {"inject-files", kInjectFilesUsage},
};

}  // namespace

const char* command_usage(const std::string& command) {
  for (const auto& r : kRows) {
    if (command == r.command) return r.usage;
  }
  return nullptr;
}

}  // namespace imgrecipe::cli
