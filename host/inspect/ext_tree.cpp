// ext2/3/4 read with debugfs (e2fsprogs): no mount, no root, the image opened
// read-only. Each call is one short debugfs run; lstat results are cached.
#include <map>

#include "host/inspect/tree.hpp"
#include "host/system/process.hpp"

namespace imgrecipe::inspect {
namespace {

class ExtTree : public Tree {
 public:
  ExtTree(const std::string& image, std::uint64_t offset)
      : device_(image + "?offset=" + std::to_string(offset)) {}

  Stat lstat(const std::string& path) override {
    auto it = cache_.find(path);
    if (it != cache_.end()) return it->second;
    Stat st;
    RunResult r = debugfs("stat " + quoted(path));
    const std::string& o = r.out;
    auto type_at = o.find("Type: ");
    if (r.exit_code == 0 && type_at != std::string::npos) {
      std::string type = o.substr(type_at + 6, o.find_first_of(" \n", type_at + 6) - type_at - 6);
      if (type == "regular") st.kind = Stat::Kind::File;
      else if (type == "directory") st.kind = Stat::Kind::Dir;
      else if (type == "symlink") st.kind = Stat::Kind::Link;
      else st.kind = Stat::Kind::Other;
      if (auto s = o.find("Size: "); s != std::string::npos) st.size = std::stoull(o.substr(s + 6));
      if (st.kind == Stat::Kind::Link) {
        const std::string fast = "Fast link dest: \"";
        if (auto f = o.find(fast); f != std::string::npos) {
          auto end = o.rfind('"');
          st.target = o.substr(f + fast.size(), end - f - fast.size());
        } else {
          // A long target lives in a data block: cat prints it.
          st.target = debugfs("cat " + quoted(path)).out;
        }
      }
    }
    cache_[path] = st;
    return st;
  }

  std::optional<std::string> read(const std::string& path) override {
    RunResult r = debugfs("cat " + quoted(path));
    if (r.exit_code != 0) return std::nullopt;
    return r.out;
  }

  std::vector<std::string> list(const std::string& dir) override {
    // `ls -p`: /inode/mode/uid/gid/name/size/ per entry.
    RunResult r = debugfs("ls -p " + quoted(dir));
    std::vector<std::string> names;
    size_t pos = 0;
    while (pos < r.out.size()) {
      size_t end = r.out.find('\n', pos);
      if (end == std::string::npos) end = r.out.size();
      std::string line = r.out.substr(pos, end - pos);
      pos = end + 1;
      if (line.size() < 2 || line[0] != '/') continue;
      // The name is the fifth field; it may itself hold '/' only if corrupt.
      size_t f = 0;
      for (int i = 0; i < 4 && f != std::string::npos; ++i) f = line.find('/', f + 1);
      size_t last = line.rfind('/', line.size() - 2);
      if (f == std::string::npos || last <= f) continue;
      std::string name = line.substr(f + 1, last - f - 1);
      if (name != "." && name != "..") names.push_back(name);
    }
    return names;
  }

 private:
  static std::string quoted(const std::string& path) { return "\"" + path + "\""; }

  RunResult debugfs(const std::string& request) {
    RunOptions o;
    o.capture_stdout = true;
    o.output_level = log::Level::Trace;
    return run({"debugfs", "-R", request, device_}, o);
  }

  std::string device_;
  std::map<std::string, Stat> cache_;
};

}  // namespace

std::unique_ptr<Tree> ext_tree(const std::string& image, std::uint64_t offset) {
  return std::make_unique<ExtTree>(image, offset);
}

}  // namespace imgrecipe::inspect
