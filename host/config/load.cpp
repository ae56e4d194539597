// load_file/load_string: read -> legacy translation -> old forms rewritten ->
// type against the schema -> whole-config rules.
#include <filesystem>

#include <fmt/format.h>

#include "host/config/config.hpp"
#include "host/config/legacy.hpp"
#include "host/config/old_forms.hpp"
#include "host/config/parse.hpp"
#include "host/config/schema.hpp"
#include "host/config/source.hpp"
#include "host/config/typing.hpp"
#include "host/config/validate.hpp"
#include "host/config/yaml_reader.hpp"
#include "host/system/error.hpp"

namespace imgrecipe::config {

ParsedConfig parse_config_text(const std::string& text, const std::string& display_path, const std::string& dir) {
  ParsedConfig p;
  p.display = display_path;
  p.cfg.path = display_path;
  p.cfg.dir = dir;
  RawDocument doc = read_yaml(text, display_path, p.problems);
  if (!doc.present) {
    if (p.problems.empty()) p.problems.add({}, "", "the config file is empty");
    return p;
  }
  std::vector<LegacyNote> notes;
  if (is_legacy(doc.root)) doc.root = translate_legacy(doc.root, p.problems, notes);
  // Also after a legacy translation: keys it passes through (iso, pxe) may use them.
  translate_old_forms(doc.root, schema::root(), p.problems, notes);
  for (const LegacyNote& n : notes) {
    p.cfg.warnings.push_back(fmt::format("{}:{}:{}: {}", display_path, n.mark.line, n.mark.column, n.message));
  }
  // Typing runs even after translation problems, so the user sees everything.
  p.cfg.root = type_tree(doc.root, schema::root(), p.problems);
  if (const Node* bases = p.cfg.root.find("baseConfigs")) {
    p.base_configs = *bases;
  } else if (doc.root.kind == RawNode::Kind::Map) {
    for (size_t i = 0; i < doc.root.keys.size(); ++i) {
      if (doc.root.keys[i].text != "baseConfigs") continue;
      Problems reported_already;
      p.base_configs = type_tree(doc.root.items[i], *schema::find_field(schema::root(), "baseConfigs")->type,
                                 reported_already);
    }
  }
  return p;
}

void check_config(ParsedConfig& parsed, const std::vector<std::string>& previews) {
  // Whole-config rules need a fully typed tree; they report on the next run
  // if typing found problems.
  if (parsed.problems.empty()) validate_config(parsed.cfg.root, parsed.problems, previews);
}

void throw_problems(const std::vector<const ParsedConfig*>& files) {
  std::string message;
  std::string target;
  for (const ParsedConfig* f : files) {
    if (f->problems.empty()) continue;
    if (!message.empty()) message += '\n';
    message += f->problems.render(f->display);
    if (target.empty()) target = f->display;
  }
  if (message.empty()) return;
  Error e(ErrorKind::Config, message);
  e.target = target;
  throw e;
}

Config load_string(const std::string& text, const std::string& display_path, const std::string& dir) {
  ParsedConfig p = parse_config_text(text, display_path, dir);
  check_config(p, {});
  throw_problems({&p});
  return std::move(p.cfg);
}

Config load_file(const std::string& path) {
  const std::string text = read_config_text(path, "config file");
  std::filesystem::path absolute = std::filesystem::absolute(path).lexically_normal();
  Config cfg = load_string(text, path, absolute.parent_path().string());
  cfg.path = absolute.string();
  return cfg;
}

}  // namespace imgrecipe::config
