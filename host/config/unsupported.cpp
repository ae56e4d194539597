// unsupported_keys(): what a config uses that imgrecipe cannot build yet,
// from the `supported` flags of the schema tables.
#include <algorithm>

#include "host/config/config.hpp"
#include "host/config/problems.hpp"
#include "host/config/schema.hpp"

namespace imgrecipe::config {
namespace {

void collect(const Node& node, const schema::Type& type, const std::string& path, std::vector<Unsupported>& out) {
  if (type.kind == schema::Kind::List) {
    for (const Node& item : node.items) collect(item, *type.item, path, out);
    return;
  }
  if (type.kind != schema::Kind::Object) return;
  for (const auto& [name, child] : node.fields) {
    const schema::Field* field = schema::find_field(type, name);
    if (!field) continue;
    std::string child_path = join_path(path, name);
    if (field->supported) {
      collect(child, *field->type, child_path, out);
    } else if (std::none_of(out.begin(), out.end(), [&](const Unsupported& u) { return u.key == child_path; })) {
      out.push_back({child_path, child.key_mark, {}});
    }
  }
}

}  // namespace

std::vector<Unsupported> unsupported_keys(const Config& cfg) {
  std::vector<Unsupported> out;
  collect(cfg.root, schema::root(), "", out);
  for (Unsupported& u : out) u.path = cfg.path;
  return out;
}

std::vector<Unsupported> unsupported_keys(const ConfigChain& chain) {
  std::vector<Unsupported> out;
  for (const Config& cfg : chain.configs) {
    for (Unsupported& u : unsupported_keys(cfg)) out.push_back(std::move(u));
  }
  return out;
}

}  // namespace imgrecipe::config
