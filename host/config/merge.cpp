#include "host/config/merge.hpp"

#include <algorithm>
#include <filesystem>
#include <string_view>

#include "host/config/problems.hpp"

namespace imgrecipe::config {
namespace {

// Taken whole from the last config that sets them: mixing a base config's
// image path with another config's OCI reference would describe no image.
constexpr std::string_view kWholeObjects[] = {"input.image"};
// Lists merged without duplicates rather than concatenated.
constexpr std::string_view kUnionLists[] = {"output.artifacts.items", "previewFeatures"};
// Last-wins paths that are relative to the config that sets them.
constexpr std::string_view kPathFields[] = {"input.image.path", "output.image.path", "output.artifacts.path",
                                            "output.selinuxPolicyPath"};
// Resolved by load_chain(); meaningless in the merged view.
constexpr std::string_view kDropped[] = {"baseConfigs"};

template <size_t N>
bool in(const std::string_view (&list)[N], std::string_view path) {
  return std::find(std::begin(list), std::end(list), path) != std::end(list);
}

Node absolutized(const Node& n, const std::string& dir) {
  Node out = n;
  if (!n.str.empty() && n.str.front() != '/') {
    out.str = (std::filesystem::path(dir) / n.str).lexically_normal().string();
  }
  return out;
}

void merge_map(Node& dst, const Node& src, const std::string& path, const Config& from);

void merge_value(Node& dst_map, const std::string& key, const Node& v, const std::string& path, const Config& from) {
  Node* d = dst_map.find(key);
  if (!d) {
    Node empty;
    empty.kind = v.kind;
    empty.mark = v.mark;
    empty.key_mark = v.key_mark;
    d = &dst_map.fields.emplace_back(key, std::move(empty)).second;
  }
  if (v.kind == Node::Kind::Map && !in(kWholeObjects, path)) {
    merge_map(*d, v, path, from);
  } else if (v.kind == Node::Kind::Map) {
    *d = v;
    if (Node* p = d->find("path")) *p = absolutized(*p, from.dir);
  } else if (v.kind == Node::Kind::Sequence) {
    for (const Node& item : v.items) {
      bool seen = in(kUnionLists, path) &&
                  std::any_of(d->items.begin(), d->items.end(), [&](const Node& x) { return x.str == item.str; });
      if (!seen) d->items.push_back(item);
    }
  } else if (!(v.kind == Node::Kind::String && v.str.empty())) {
    // An empty string means "unset" in ALIC, so it never overrides a value.
    *d = in(kPathFields, path) ? absolutized(v, from.dir) : v;
  }
}

void merge_map(Node& dst, const Node& src, const std::string& path, const Config& from) {
  for (const auto& [key, value] : src.fields) {
    std::string child = join_path(path, key);
    if (in(kDropped, child)) continue;
    merge_value(dst, key, value, child, from);
  }
}

}  // namespace

Node merge_chain(const std::vector<Config>& configs) {
  if (configs.size() == 1) return configs[0].root;
  Node merged;
  merged.kind = Node::Kind::Map;
  for (const Config& c : configs) {
    if (c.root.kind == Node::Kind::Map) merge_map(merged, c.root, "", c);
  }
  return merged;
}

}  // namespace imgrecipe::config
