// squashfs read with unsquashfs: the listing once, `-cat` per file.
#include <map>

#include "host/fs/squashfs.hpp"
#include "host/inspect/tree.hpp"
#include "host/system/process.hpp"

namespace imgrecipe::inspect {
namespace {

class SquashfsTree : public Tree {
 public:
  explicit SquashfsTree(const std::string& image) : image_(image) {
    for (auto& e : squashfs::list(image)) entries_[e.path] = std::move(e);
  }

  Stat lstat(const std::string& path) override {
    auto it = entries_.find(path);
    if (it == entries_.end()) return {};
    const auto& e = it->second;
    Stat st;
    st.size = e.size;
    st.kind = e.type == '-' ? Stat::Kind::File
              : e.type == 'd' ? Stat::Kind::Dir
              : e.type == 'l' ? Stat::Kind::Link
                              : Stat::Kind::Other;
    st.target = e.link_target;
    return st;
  }

  std::optional<std::string> read(const std::string& path) override {
    RunOptions o;
    o.capture_stdout = true;
    o.output_level = log::Level::Trace;
    RunResult r = run({"unsquashfs", "-no-progress", "-cat", image_, path}, o);
    if (r.exit_code != 0) return std::nullopt;
    return r.out;
  }

  std::vector<std::string> list(const std::string& dir) override {
    std::string prefix = dir == "/" ? "/" : dir + "/";
    std::vector<std::string> names;
    for (auto it = entries_.lower_bound(prefix); it != entries_.end(); ++it) {
      const std::string& p = it->first;
      if (p.compare(0, prefix.size(), prefix) != 0) break;
      if (p.size() > prefix.size() && p.find('/', prefix.size()) == std::string::npos)
        names.push_back(p.substr(prefix.size()));
    }
    return names;
  }

 private:
  std::string image_;
  std::map<std::string, squashfs::Entry> entries_;
};

}  // namespace

std::unique_ptr<Tree> squashfs_tree(const std::string& image) { return std::make_unique<SquashfsTree>(image); }

}  // namespace imgrecipe::inspect
