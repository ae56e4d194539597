// load_file/load_string: read -> type against the schema -> whole-config rules.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "host/config/config.hpp"
#include "host/config/problems.hpp"
#include "host/config/schema.hpp"
#include "host/config/typing.hpp"
#include "host/config/validate.hpp"
#include "host/config/yaml_reader.hpp"
#include "host/system/error.hpp"

namespace imgrecipe::config {

Config load_string(const std::string& text, const std::string& display_path, const std::string& dir) {
  Problems problems;
  Config cfg;
  cfg.path = display_path;
  cfg.dir = dir;
  RawDocument doc = read_yaml(text, display_path, problems);
  if (doc.present) {
    cfg.root = type_tree(doc.root, schema::root(), problems);
    // Whole-config rules need a fully typed tree; they report on the next run
    // if typing found problems.
    if (problems.empty()) validate_config(cfg.root, problems);
  }
  if (!problems.empty()) {
    Error e(ErrorKind::Config, problems.render(display_path));
    e.target = display_path;
    throw e;
  }
  return cfg;
}

Config load_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    Error e(ErrorKind::Config, fmt::format("{}: cannot read config file: is a directory", path));
    e.target = path;
    throw e;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    Error e(ErrorKind::Config, fmt::format("{}: cannot read config file: {}", path, std::strerror(err)));
    e.target = path;
    e.sys_errno = err;
    throw e;
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::filesystem::path absolute = std::filesystem::absolute(path).lexically_normal();
  Config cfg = load_string(text.str(), path, absolute.parent_path().string());
  cfg.path = absolute.string();
  return cfg;
}

}  // namespace imgrecipe::config
