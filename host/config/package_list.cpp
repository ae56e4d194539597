// Package-list files named by os.packages.installLists/removeLists/updateLists:
// `packages: [a, b]`, typed as strictly as the config itself.
#include <fmt/format.h>

#include "host/config/config.hpp"
#include "host/config/problems.hpp"
#include "host/config/schema.hpp"
#include "host/config/source.hpp"
#include "host/config/typing.hpp"
#include "host/config/yaml_reader.hpp"
#include "host/system/error.hpp"

namespace imgrecipe::config {

std::vector<std::string> load_package_list(const std::string& path) {
  const std::string text = read_config_text(path, "package list");
  Problems problems;
  RawDocument doc = read_yaml(text, path, problems);
  std::vector<std::string> names;
  // A file with no YAML document lists no packages.
  if (doc.present) {
    Node root = type_tree(doc.root, schema::package_list(), problems);
    if (const Node* packages = root.find("packages")) {
      for (const Node& n : packages->items) names.push_back(n.str);
    }
  }
  if (!problems.empty()) {
    Error e(ErrorKind::Config, problems.render(path));
    e.target = path;
    throw e;
  }
  return names;
}

}  // namespace imgrecipe::config
