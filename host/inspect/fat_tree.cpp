// FAT read with mtools (the kernel here has no vfat): one recursive listing,
// then mtype per file. FAT names match case-insensitively.
#include <algorithm>
#include <cctype>
#include <map>

#include "host/inspect/tree.hpp"
#include "host/system/process.hpp"

namespace imgrecipe::inspect {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

RunOptions mtools_options() {
  RunOptions o;
  o.capture_stdout = true;
  o.output_level = log::Level::Trace;
  o.env = std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "MTOOLS_SKIP_CHECK=1", "LC_ALL=C"};
  return o;
}

class FatTree : public Tree {
 public:
  FatTree(const std::string& image, std::uint64_t offset) : spec_(image + "@@" + std::to_string(offset)) {
    // `mdir -/ -b`: every path, directories with a trailing '/'.
    RunResult r = run({"mdir", "-i", spec_, "-/", "-b", "::/"}, mtools_options());
    entries_[""] = {"/", true};
    if (r.exit_code != 0) return;
    size_t pos = 0;
    while (pos < r.out.size()) {
      size_t end = r.out.find('\n', pos);
      if (end == std::string::npos) end = r.out.size();
      std::string line = r.out.substr(pos, end - pos);
      pos = end + 1;
      if (line.rfind("::/", 0) != 0) continue;
      bool dir = line.back() == '/';
      std::string path = line.substr(2, line.size() - 2 - (dir ? 1 : 0));
      entries_[lower(path)] = {path, dir};
    }
  }

  Stat lstat(const std::string& path) override {
    auto it = entries_.find(lower(trimmed(path)));
    if (it == entries_.end()) return {};
    return {it->second.dir ? Stat::Kind::Dir : Stat::Kind::File, {}, 0};
  }

  std::optional<std::string> read(const std::string& path) override {
    auto it = entries_.find(lower(trimmed(path)));
    if (it == entries_.end() || it->second.dir) return std::nullopt;
    RunResult r = run({"mtype", "-i", spec_, "::" + it->second.path}, mtools_options());
    if (r.exit_code != 0) return std::nullopt;
    return r.out;
  }

  std::vector<std::string> list(const std::string& dir) override {
    std::string d = lower(trimmed(dir));
    std::vector<std::string> names;
    for (const auto& [key, e] : entries_) {
      if (key.empty() || key.size() <= d.size() + 1 || key.compare(0, d.size(), d) != 0 || key[d.size()] != '/')
        continue;
      if (key.find('/', d.size() + 1) != std::string::npos) continue;
      names.push_back(e.path.substr(e.path.rfind('/') + 1));
    }
    return names;
  }

 private:
  struct Entry {
    std::string path;  // as stored: "/EFI/BOOT/BOOTX64.EFI"
    bool dir = false;
  };
  static std::string trimmed(const std::string& p) { return p == "/" ? "" : p; }
  std::string spec_;
  std::map<std::string, Entry> entries_;  // lower-case path without trailing '/'; "" is the root
};

}  // namespace

std::unique_ptr<Tree> fat_tree(const std::string& image, std::uint64_t offset) {
  return std::make_unique<FatTree>(image, offset);
}

}  // namespace imgrecipe::inspect
