#include "host/inspect/tree.hpp"

#include <algorithm>

namespace imgrecipe::inspect {

void View::mount(const std::string& mount_point, Tree* tree) {
  std::string mp = mount_point.size() > 1 && mount_point.back() == '/' ? mount_point.substr(0, mount_point.size() - 1)
                                                                         : mount_point;
  mounts_.emplace_back(mp, tree);
  std::stable_sort(mounts_.begin(), mounts_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

std::pair<Tree*, std::string> View::locate(const std::string& path) {
  for (const auto& [mp, tree] : mounts_) {
    if (mp == "/") return {tree, path};
    if (path == mp) return {tree, "/"};
    if (path.size() > mp.size() && path.compare(0, mp.size(), mp) == 0 && path[mp.size()] == '/')
      return {tree, path.substr(mp.size())};
  }
  return {nullptr, {}};
}

namespace {
std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}
}  // namespace

std::optional<std::string> View::resolve(const std::string& path) {
  std::vector<std::string> todo = components(path);
  std::reverse(todo.begin(), todo.end());  // a stack: next component last
  std::vector<std::string> done;
  int links = 0;
  while (!todo.empty()) {
    std::string c = todo.back();
    todo.pop_back();
    if (c == ".") continue;
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    std::string full;
    for (const auto& d : done) full += "/" + d;
    full += "/" + c;
    auto [tree, inner] = locate(full);
    if (!tree) return std::nullopt;
    // A mount point is the root directory of its filesystem.
    Stat st = inner == "/" ? Stat{Stat::Kind::Dir, {}, 0} : tree->lstat(inner);
    if (st.kind == Stat::Kind::None) return std::nullopt;
    if (st.kind != Stat::Kind::Link) {
      done.push_back(c);
      continue;
    }
    if (++links > 40 || st.target.empty()) return std::nullopt;
    if (st.target[0] == '/') done.clear();
    std::vector<std::string> t = components(st.target);
    for (auto it = t.rbegin(); it != t.rend(); ++it) todo.push_back(*it);
  }
  std::string out;
  for (const auto& d : done) out += "/" + d;
  return out.empty() ? "/" : out;
}

Stat View::stat(const std::string& path) {
  auto r = resolve(path);
  if (!r) return {};
  auto [tree, inner] = locate(*r);
  if (!tree) return {};
  if (inner == "/") return {Stat::Kind::Dir, {}, 0};
  return tree->lstat(inner);
}

std::optional<std::string> View::read(const std::string& path) {
  auto r = resolve(path);
  if (!r) return std::nullopt;
  auto [tree, inner] = locate(*r);
  if (!tree || tree->lstat(inner).kind != Stat::Kind::File) return std::nullopt;
  return tree->read(inner);
}

std::vector<std::string> View::list(const std::string& dir) {
  auto r = resolve(dir);
  if (!r) return {};
  auto [tree, inner] = locate(*r);
  if (!tree) return {};
  std::vector<std::string> names = tree->list(inner);
  // Mount points directly below `dir` that its filesystem may lack.
  for (const auto& [mp, t] : mounts_) {
    std::string base = *r == "/" ? "" : *r;
    if (mp.size() > base.size() + 1 && mp.compare(0, base.size() + 1, base + "/") == 0 &&
        mp.find('/', base.size() + 1) == std::string::npos) {
      std::string name = mp.substr(base.size() + 1);
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace imgrecipe::inspect
