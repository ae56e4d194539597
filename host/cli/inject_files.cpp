#include "host/cli/inject_files.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe::cli {

const char* const kInjectFilesUsage =
    R"(imgrecipe inject-files — put externally signed files back into an image (ALIC's inject-files)

Usage:
  imgrecipe inject-files --config-file inject-files.yaml --image-file IN
                         --output-image-file OUT [--output-image-format FMT] [options]

The config is the inject-files.yaml that output.artifacts writes (or one made by
hand): each entry's `source` (relative to the yaml) is copied to `destination`
in the partition its `partition` names (part-uuid, uuid or part-label). It must
list the preview feature inject-files. The input is never written; the output
appears atomically. Unlike ALIC, --output-image-file is required: imgrecipe
never writes over its input.

Options:
  --config-file F               the inject-files.yaml (required)
  --image-file F                the input image (required): vhd, vhd-fixed, vhdx, qcow2 or raw
  --output-image-file F         the output file (required; alias --output-path)
  --output-image-format FMT     raw, qcow2, vhd, vhd-fixed, vhdx, cosi, baremetal-image
                                (default: the input's format)
  --cosi-compression-level N    zstd level 1..22 for cosi (default 9) and baremetal-image (22)
  --build-dir D                 scratch directory (default /var/tmp/imgrecipe)
  --keep-build-dir              keep this run's working files for debugging
  --log-level L, --log-format text|json, --log-file F
)";

std::map<std::string, std::string> inject_files_params(const std::map<std::string, std::string>& flags,
                                                       const std::vector<std::string>& positional,
                                                       const std::map<std::string, std::vector<std::string>>& lists) {
  if (!positional.empty())
    throw_usage(fmt::format("imgrecipe inject-files takes no positional argument ('{}'); see imgrecipe inject-files "
                            "--help",
                            positional[0]));
  for (const char* f : {"rpm-source", "deb-source", "disable-base-image-rpm-repos", "disable-base-image-deb-repos",
                        "package-manager", "validate-resources"}) {
    if (flags.count(f) || lists.count(f))
      throw_usage(fmt::format("imgrecipe inject-files does not take --{}; see imgrecipe inject-files --help", f));
  }
  auto get = [&](const char* f) {
    auto it = flags.find(f);
    return it == flags.end() ? std::string() : it->second;
  };
  for (const auto& [f, what] : {std::pair{"config-file", "the inject-files.yaml"}, std::pair{"image-file", "the input image"},
                              std::pair{"output-image-file", "the output file; imgrecipe never writes over its input"}}) {
    if (get(f).empty())
      throw_usage(fmt::format("imgrecipe inject-files needs --{} ({}); see imgrecipe inject-files --help", f, what));
  }
  std::map<std::string, std::string> p;
  p["config"] = std::filesystem::absolute(get("config-file")).string();
  p["image_file"] = std::filesystem::absolute(get("image-file")).string();
  p["output_image_file"] = std::filesystem::absolute(get("output-image-file")).string();
  if (!get("output-image-format").empty()) p["output_image_format"] = get("output-image-format");
  if (!get("cosi-compression-level").empty()) p["cosi_compression_level"] = get("cosi-compression-level");
  return p;
}

}  // namespace imgrecipe::cli
