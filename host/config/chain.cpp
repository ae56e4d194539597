// load_chain(): the baseConfigs chain, resolved depth-first with base configs
// first (alic-reference §2.0, §2.9, §4.1 A.2-3, §5.5).
#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "host/config/config.hpp"
#include "host/config/merge.hpp"
#include "host/config/parse.hpp"
#include "host/config/source.hpp"
#include "host/security/names.hpp"
#include "host/system/error.hpp"

namespace imgrecipe::config {
namespace {

namespace fs = std::filesystem;

class ChainLoader {
 public:
  void load(const std::string& display, const fs::path& absolute) {
    ParsedConfig top = parse(display, absolute);
    visited_.insert(absolute.string());
    stack_.push_back(display);
    follow_bases(top);
    files_.push_back(std::move(top));
  }

  ConfigChain finish() {
    std::vector<std::string> previews;
    for (const ParsedConfig& f : files_) {
      const Node* features = f.cfg.root.find("previewFeatures");
      if (!features) continue;
      for (const Node& n : features->items) {
        if (std::find(previews.begin(), previews.end(), n.str) == previews.end()) previews.push_back(n.str);
      }
    }
    for (ParsedConfig& f : files_) check_config(f, previews);
    storage_in_one_config();
    std::vector<const ParsedConfig*> all;
    for (const ParsedConfig& f : files_) all.push_back(&f);
    throw_problems(all);

    ConfigChain chain;
    for (ParsedConfig& f : files_) {
      for (const std::string& w : f.cfg.warnings) chain.warnings.push_back(w);
      chain.configs.push_back(std::move(f.cfg));
    }
    chain.merged = merge_chain(chain.configs);
    return chain;
  }

 private:
  static ParsedConfig parse(const std::string& display, const fs::path& absolute) {
    ParsedConfig p = parse_config_text(read_config_text(display, "config file"), display,
                                       absolute.parent_path().string());
    p.cfg.path = absolute.string();
    return p;
  }

  void follow_bases(ParsedConfig& including) {
    const Node* bases = &including.base_configs;
    const fs::path display_dir = fs::path(including.display).parent_path();
    for (size_t i = 0; i < bases->items.size(); ++i) {
      const Node* path = bases->items[i].find("path");
      if (!path) continue;
      const std::string field = fmt::format("baseConfigs[{}].path", i);
      const fs::path absolute = (fs::path(including.cfg.dir) / path->str).lexically_normal();
      const std::string display = (display_dir / path->str).lexically_normal().string();
      // As in ALIC, a config may appear once in the chain: a second visit is a cycle.
      if (visited_.contains(absolute.string())) {
        std::string route;
        for (const std::string& s : stack_) route += s + " -> ";
        including.problems.add(path->mark, field, fmt::format("cycle detected in baseConfigs: {}{}", route, display));
        continue;
      }
      std::error_code ec;
      const fs::file_status st = fs::status(absolute, ec);
      if (!fs::exists(st)) {
        including.problems.add(path->mark, field,
                               fmt::format("base config '{}' not found", names::shown(display, 200)));
        continue;
      }
      if (!fs::is_regular_file(st)) {
        including.problems.add(path->mark, field,
                               fmt::format("base config '{}' is not a regular file", names::shown(display, 200)));
        continue;
      }
      visited_.insert(absolute.string());
      ParsedConfig base = parse(display, absolute);
      stack_.push_back(display);
      follow_bases(base);
      stack_.pop_back();
      files_.push_back(std::move(base));
    }
  }

  // ALIC cannot merge storage layouts (ErrStorageMoreThanOne).
  void storage_in_one_config() {
    const ParsedConfig* first = nullptr;
    for (ParsedConfig& f : files_) {
      const Node* storage = f.cfg.root.find("storage");
      if (!storage) continue;
      if (!first) {
        first = &f;
        continue;
      }
      f.problems.add(storage->key_mark, "storage",
                     fmt::format("storage may only be specified in one config file (also set in {})", first->display));
    }
  }

  std::vector<ParsedConfig> files_;  // chain order: base configs first
  std::set<std::string> visited_;
  std::vector<std::string> stack_;   // display names from the top config down
};

}  // namespace

ConfigChain load_chain(const std::string& path) {
  ChainLoader loader;
  loader.load(path, fs::absolute(path).lexically_normal());
  return loader.finish();
}

}  // namespace imgrecipe::config
