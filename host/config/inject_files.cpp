#include "host/config/inject_files.hpp"

#include <fmt/format.h>

#include "host/config/parse.hpp"
#include "host/config/problems.hpp"
#include "host/config/schema.hpp"
#include "host/config/source.hpp"
#include "host/config/typing.hpp"
#include "host/config/yaml_reader.hpp"

namespace imgrecipe::config {

Node load_inject_files(const std::string& path) {
  const std::string text = read_config_text(path, "inject-files config");
  ParsedConfig p;
  p.display = path;
  RawDocument doc = read_yaml(text, path, p.problems);
  if (!doc.present) {
    if (p.problems.empty()) p.problems.add({}, "", "the inject-files config is empty");
    throw_problems({&p});
  }
  Node root = type_tree(doc.root, schema::inject_files(), p.problems);
  if (p.problems.empty()) {
    // ALIC's gate: the feature must be listed in the file itself.
    bool enabled = false;
    if (const Node* f = root.find("previewFeatures")) {
      for (const Node& v : f->items) enabled = enabled || v.str == "inject-files";
    }
    if (!enabled) {
      p.problems.add(root.mark, "previewFeatures",
                     "the 'inject-files' feature is currently in preview; please add 'inject-files' to "
                     "'previewFeatures' to enable it");
    }
    if (const Node* list = root.find("injectFiles")) {
      for (size_t i = 0; i < list->items.size(); ++i) {
        const Node* d = list->items[i].find("destination");
        // Paths inside a partition: relative ones would name nothing ALIC can find either.
        if (d && !d->str.empty() && d->str.front() != '/') {
          p.problems.add(d->mark, index_path("injectFiles", i) + ".destination",
                         fmt::format("invalid path '{}': must be absolute", d->str));
        }
      }
    }
  }
  throw_problems({&p});
  return root;
}

}  // namespace imgrecipe::config
