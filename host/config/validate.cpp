#include "host/config/validate.hpp"

#include <algorithm>
#include <initializer_list>
#include <vector>

#include <fmt/format.h>

#include "host/config/schema.hpp"
#include "host/config/storage_rules.hpp"

namespace imgrecipe::config {
namespace {

using ConfigRule = void (*)(const Node& root, Problems& problems);

const Node* at(const Node& root, std::initializer_list<std::string_view> keys) {
  const Node* n = &root;
  for (std::string_view k : keys) {
    n = n->find(k);
    if (!n) return nullptr;
  }
  return n;
}

std::string_view str_at(const Node& root, std::initializer_list<std::string_view> keys) {
  const Node* n = at(root, keys);
  return n ? std::string_view(n->str) : std::string_view();
}

// The config's own preview features and those enabled elsewhere in its chain.
using Previews = std::vector<std::string_view>;

bool enabled(const Previews& previews, std::string_view feature) {
  return std::find(previews.begin(), previews.end(), feature) != previews.end();
}

std::string preview_message(std::string_view feature, std::string_view what) {
  return fmt::format("the '{}' preview feature must be enabled to use {}", feature, what);
}

// Every field whose schema entry names a preview feature. An empty string
// counts as unset, as in ALIC.
void gate_fields(const Previews& previews, const Node& node, const schema::Type& type, const std::string& path,
                 const std::string& generic_path, Problems& problems) {
  if (type.kind == schema::Kind::List) {
    for (size_t i = 0; i < node.items.size(); ++i) {
      gate_fields(previews, node.items[i], *type.item, index_path(path, i), generic_path, problems);
    }
    return;
  }
  if (type.kind != schema::Kind::Object) return;
  for (const auto& [name, child] : node.fields) {
    const schema::Field* field = schema::find_field(type, name);
    if (!field) continue;
    std::string child_path = join_path(path, name);
    std::string child_generic = join_path(generic_path, name);
    bool used = !(child.kind == Node::Kind::String && child.str.empty());
    if (!field->preview.empty() && used && !enabled(previews, field->preview)) {
      problems.add(child.key_mark, child_path, preview_message(field->preview, fmt::format("'{}'", child_generic)));
    }
    gate_fields(previews, child, *field->type, child_path, child_generic, problems);
  }
}

void preview_gating(const Node& root, const Previews& previews, Problems& problems) {
  gate_fields(previews, root, schema::root(), "", "", problems);
}

// btrfs is gated on a value, not a key.
void btrfs_gating(const Node& root, const Previews& previews, Problems& problems) {
  const Node* filesystems = at(root, {"storage", "filesystems"});
  if (!filesystems || enabled(previews, "btrfs")) return;
  for (size_t i = 0; i < filesystems->items.size(); ++i) {
    const Node* type = filesystems->items[i].find("type");
    if (type && type->str == "btrfs") {
      problems.add(type->mark, fmt::format("storage.filesystems[{}].type", i),
                   preview_message("btrfs", "btrfs filesystems"));
    }
  }
}

// A new partition layout or new partition UUIDs need a regenerated bootloader config.
void bootloader_reset_required(const Node& root, Problems& problems) {
  if (!str_at(root, {"os", "bootloader", "resetType"}).empty()) return;
  const Node* disks = at(root, {"storage", "disks"});
  if (disks && !disks->items.empty()) {
    problems.add(disks->key_mark, "storage.disks", "'os.bootloader.resetType' must be set when 'storage.disks' is set");
  }
  const Node* reset = at(root, {"storage", "resetPartitionsUuidsType"});
  if (reset && !reset->str.empty()) {
    problems.add(reset->key_mark, "storage.resetPartitionsUuidsType",
                 "'os.bootloader.resetType' must be set when 'storage.resetPartitionsUuidsType' is set");
  }
}

// UKI passthrough keeps the base image's UKIs untouched and modify only edits
// their addon command line, so neither can apply changes that need a new
// initramfs or kernel command line.
void uki_mode_compat(const Node& root, Problems& problems) {
  const Node* mode = at(root, {"os", "uki", "mode"});
  if (!mode || (mode->str != "passthrough" && mode->str != "modify")) return;
  const bool passthrough = mode->str == "passthrough";
  std::vector<std::string_view> conflicts;
  auto nonempty_list = [&](std::initializer_list<std::string_view> keys) {
    const Node* n = at(root, keys);
    return n && !n->items.empty();
  };
  if (str_at(root, {"os", "bootloader", "resetType"}) == "hard-reset") conflicts.push_back("os.bootloader.resetType");
  if (passthrough && !str_at(root, {"os", "selinux", "mode"}).empty()) conflicts.push_back("os.selinux.mode");
  if (passthrough && nonempty_list({"os", "kernelCommandLine", "extraCommandLine"})) {
    conflicts.push_back("os.kernelCommandLine.extraCommandLine");
  }
  if (nonempty_list({"storage", "verity"})) conflicts.push_back("storage.verity");
  if (passthrough && str_at(root, {"storage", "reinitializeVerity"}) == "all") {
    conflicts.push_back("storage.reinitializeVerity");
  }
  if (nonempty_list({"os", "overlays"})) conflicts.push_back("os.overlays");
  if (conflicts.empty()) return;
  std::string list;
  for (std::string_view c : conflicts) list += fmt::format("{}'{}'", list.empty() ? "" : ", ", c);
  problems.add(mode->mark, "os.uki.mode",
               fmt::format("mode '{}' cannot be combined with {} (use mode 'create' to rebuild the UKIs)",
                           mode->str, list));
}

// ALIC cannot remove the package manager when it still needs it to build the
// output (iso, pxe, cosi; alic-reference §5.5).
void remove_package_manager_output(const Node& root, Problems& problems) {
  const Node* remove = at(root, {"os", "packages", "removePackageManager"});
  if (!remove || !remove->b) return;
  std::string_view format = str_at(root, {"output", "image", "format"});
  if (format == "iso" || format == "pxe-dir" || format == "pxe-tar" || format == "cosi" || format == "baremetal-image") {
    problems.add(remove->mark, "os.packages.removePackageManager",
                 fmt::format("cannot be used with the '{}' output format", format));
  }
}

// An ISO input only becomes an ISO or PXE output again, and keeps its layout.
void iso_input(const Node& root, Problems& problems) {
  const Node* input = at(root, {"input", "image", "path"});
  if (!input || !input->str.ends_with(".iso")) return;
  const Node* format = at(root, {"output", "image", "format"});
  if (format && !format->str.empty() && format->str != "iso" && format->str != "pxe-dir" && format->str != "pxe-tar") {
    problems.add(format->mark, "output.image.format",
                 fmt::format("an ISO input image can only be customized into iso, pxe-dir or pxe-tar, not '{}'",
                             format->str));
  }
  const Node* disks = at(root, {"storage", "disks"});
  if (disks && !disks->items.empty()) {
    problems.add(disks->key_mark, "storage.disks", "cannot repartition an ISO input image");
  }
}

constexpr ConfigRule kRules[] = {
    bootloader_reset_required,
    uki_mode_compat,
    storage_layout_rules,
    remove_package_manager_output,
    iso_input,
};

}  // namespace

void validate_config(const Node& root, Problems& problems, const std::vector<std::string>& extra_previews) {
  Previews previews(extra_previews.begin(), extra_previews.end());
  if (const Node* own = root.find("previewFeatures")) {
    for (const Node& f : own->items) previews.push_back(f.str);
  }
  preview_gating(root, previews, problems);
  btrfs_gating(root, previews, problems);
  for (ConfigRule rule : kRules) rule(root, problems);
}

}  // namespace imgrecipe::config
