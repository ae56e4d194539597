#include "host/config/resources.hpp"

#include <filesystem>
#include <initializer_list>

#include <fmt/format.h>

#include "host/config/problems.hpp"
#include "host/security/names.hpp"
#include "host/system/error.hpp"

namespace imgrecipe::config {
namespace {

namespace fs = std::filesystem;

enum class Want { File, Dir };

class Checker {
 public:
  Checker(const Config& cfg, Problems& problems) : cfg_(cfg), problems_(problems) {}

  void run() {
    const Node& root = cfg_.root;
    for (std::string_view section : {"os", "iso", "pxe"}) {
      each(root, {section, "additionalFiles"}, [&](const Node& f, const std::string& path) {
        if (const Node* s = f.find("source"); s && !s->str.empty()) exists(*s, path + ".source", Want::File);
      });
    }
    each(root, {"os", "additionalDirs"}, [&](const Node& d, const std::string& path) {
      if (const Node* s = d.find("source")) exists(*s, path + ".source", Want::Dir);
    });
    each(root, {"os", "users"}, [&](const Node& u, const std::string& path) {
      if (const Node* pw = u.find("password")) {
        const Node* type = pw->find("type");
        const Node* value = pw->find("value");
        if (type && value && (type->str == "plain-text-file" || type->str == "hashed-file")) {
          exists(*value, path + ".password.value", Want::File);
        }
      }
      if (const Node* keys = u.find("sshPublicKeyPaths")) {
        for (size_t i = 0; i < keys->items.size(); ++i) {
          exists(keys->items[i], index_path(path + ".sshPublicKeyPaths", i), Want::File);
        }
      }
    });
    for (std::string_view kind : {"postCustomization", "finalizeCustomization"}) {
      each(root, {"scripts", kind}, [&](const Node& s, const std::string& path) {
        if (const Node* p = s.find("path"); p && !p->str.empty()) exists(*p, path + ".path", Want::File);
      });
    }
    for (std::string_view lists : {"installLists", "removeLists", "updateLists"}) {
      each(root, {"os", "packages", lists}, [&](const Node& item, const std::string& path) {
        if (!exists(item, path, Want::File)) return;
        try {
          (void)load_package_list(resolve(item.str));
        } catch (const Error& e) {
          problems_.add(item.mark, path, fmt::format("invalid package list:\n{}", e.what()));
        }
      });
    }
  }

 private:
  std::string resolve(const std::string& p) const {
    return fs::path(p).is_absolute() ? p : (fs::path(cfg_.dir) / p).lexically_normal().string();
  }

  template <typename Fn>
  void each(const Node& root, std::initializer_list<std::string_view> keys, Fn fn) {
    const Node* n = &root;
    std::string path;
    for (std::string_view k : keys) {
      n = n->find(k);
      if (!n) return;
      path = join_path(path, k);
    }
    for (size_t i = 0; i < n->items.size(); ++i) fn(n->items[i], index_path(path, i));
  }

  bool exists(const Node& value, const std::string& path, Want want) {
    std::error_code ec;
    const std::string full = resolve(value.str);
    fs::file_status st = fs::status(full, ec);
    if (ec || !fs::exists(st)) {
      problems_.add(value.mark, path, fmt::format("'{}' does not exist", names::shown(value.str)));
      return false;
    }
    if (want == Want::Dir && !fs::is_directory(st)) {
      problems_.add(value.mark, path, fmt::format("'{}' is not a directory", names::shown(value.str)));
      return false;
    }
    if (want == Want::File && fs::is_directory(st)) {
      problems_.add(value.mark, path, fmt::format("'{}' is a directory, not a file", names::shown(value.str)));
      return false;
    }
    // A FIFO or a device would block or never end when imgrecipe reads it.
    if (want == Want::File && !fs::is_regular_file(st)) {
      problems_.add(value.mark, path, fmt::format("'{}' is not a regular file", names::shown(value.str)));
      return false;
    }
    return true;
  }

  const Config& cfg_;
  Problems& problems_;
};

}  // namespace

void check_resource_files(const ConfigChain& chain) {
  std::string message;
  for (const Config& cfg : chain.configs) {
    Problems problems;
    Checker(cfg, problems).run();
    if (problems.empty()) continue;
    if (!message.empty()) message += '\n';
    message += problems.render(cfg.path);
  }
  if (!message.empty()) throw Error(ErrorKind::Config, message);
}

}  // namespace imgrecipe::config
