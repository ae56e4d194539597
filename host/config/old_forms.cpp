#include "host/config/old_forms.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>

#include "host/config/suggest.hpp"
#include "host/security/names.hpp"

namespace imgrecipe::config {
namespace {

using K = RawNode::Kind;
using SV = std::string_view;

// The keys of a destination object in ALIC's map form (its FileConfig).
constexpr SV kDestinationKeys[] = {"path", "permissions"};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Whether `s` reads back as the same string when written as a plain YAML
// scalar in block context; anything doubtful is quoted.
bool plain_safe(SV s) {
  if (s.empty() || is_blank(s.front()) || is_blank(s.back())) return false;
  if (SV("-?:,[]{}#&*!|>'\"%@`").find(s.front()) != SV::npos) return false;
  if (s.find(": ") != SV::npos || s.find(" #") != SV::npos || s.back() == ':') return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  static constexpr SV kWords[] = {"~",    "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE",
                                  "y",    "Y",    "yes",  "Yes",  "YES",  "n",    "N",    "no",    "No",    "NO",
                                  "on",   "On",   "ON",   "off",  "Off",  "OFF",  ".inf", ".Inf",  ".INF",  ".nan",
                                  ".NaN", ".NAN", "-.inf"};
  if (std::find(std::begin(kWords), std::end(kWords), s) != std::end(kWords)) return false;
  // Numbers (ints in any base, floats, sexagesimals): quote anything that starts like one.
  if (std::isdigit(static_cast<unsigned char>(s.front())) || s.front() == '+' || s.front() == '.') {
    return s.find_first_not_of("0123456789abcdefABCDEFxXoO._+-:") != SV::npos;
  }
  return true;
}

std::string yaml_scalar(SV s) {
  if (plain_safe(s)) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

RawNode scalar(std::string value, Mark mark) {
  RawNode n;
  n.kind = K::Scalar;
  n.value = std::move(value);
  n.mark = mark;
  return n;
}

void put(RawNode& map, std::string key, Mark key_mark, RawNode value) {
  map.keys.push_back({std::move(key), key_mark});
  map.items.push_back(std::move(value));
}

// The last component of a dotted path: the key as written in the file.
std::string last_key(const std::string& path) {
  const size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

class Rewriter {
 public:
  Rewriter(Problems& problems, std::vector<LegacyNote>& notes) : problems_(problems), notes_(notes) {}

  void walk(RawNode& raw, const schema::Type& type, const std::string& path, Mark key_mark) {
    if (type.old_form == schema::OldForm::FileMap && raw.kind == K::Map) {
      file_map(raw, path, key_mark);
      return;
    }
    if (type.old_form == schema::OldForm::ArgString && raw.kind == K::Scalar) {
      arg_string(raw, path, key_mark);
      return;
    }
    if (type.kind == schema::Kind::Object && raw.kind == K::Map) {
      for (size_t i = 0; i < raw.keys.size(); ++i) {
        const schema::Field* field = schema::find_field(type, raw.keys[i].text);
        if (field) walk(raw.items[i], *field->type, join_path(path, raw.keys[i].text), raw.keys[i].mark);
      }
    } else if (type.kind == schema::Kind::List && raw.kind == K::Sequence) {
      for (size_t i = 0; i < raw.items.size(); ++i) walk(raw.items[i], *type.item, index_path(path, i), raw.items[i].mark);
    }
  }

 private:
  // After its problems were reported: typing must not report the old form again.
  static void dropped(RawNode& raw) {
    RawNode empty;
    empty.mark = raw.mark;
    raw = std::move(empty);
  }

  void note(Mark mark, const std::string& path, SV form, const std::string& yaml) {
    notes_.push_back({mark, fmt::format("{} as {} is an old form: write\n{}", path, form, yaml)});
  }

  // {source: {path: destination}} -> [{source, destination, permissions}], in
  // document order. A destination is a path, a {path, permissions} map, or a
  // list of them (ALIC's map form before it became a list).
  void file_map(RawNode& raw, const std::string& path, Mark key_mark) {
    const size_t before = problems_.size();
    RawNode list;
    list.kind = K::Sequence;
    list.mark = raw.mark;
    std::string yaml;
    std::map<std::string, Mark> seen;
    for (size_t i = 0; i < raw.keys.size(); ++i) {
      const RawKey& source = raw.keys[i];
      const std::string spath = join_path(path, names::shown(source.text));
      if (source.text.empty()) {
        problems_.add(source.mark, path, "a source path must not be empty");
        continue;
      }
      auto [first, inserted] = seen.emplace(source.text, source.mark);
      if (!inserted) {
        problems_.add(source.mark, spath, fmt::format("duplicate key (first defined at line {})", first->second.line));
        continue;
      }
      const RawNode& dests = raw.items[i];
      if (dests.kind == K::Null) {  // a null has no useful position of its own
        problems_.add(source.mark, spath, "expected a destination path, a {path, permissions} map or a list of them");
        continue;
      }
      if (dests.kind == K::Sequence && dests.items.empty()) {
        problems_.add(dests.mark, spath, "expected at least one destination");
        continue;
      }
      std::vector<const RawNode*> items;
      if (dests.kind == K::Sequence) {
        for (const RawNode& d : dests.items) items.push_back(&d);
      } else {
        items.push_back(&dests);
      }
      for (const RawNode* d : items) {
        RawNode file;
        file.kind = K::Map;
        file.mark = d->mark;
        put(file, "source", source.mark, scalar(source.text, source.mark));
        if (!destination(*d, spath, file)) continue;
        yaml += fmt::format("    - source: {}\n", yaml_scalar(source.text));
        for (size_t k = 1; k < file.keys.size(); ++k) {
          yaml += fmt::format("      {}: {}\n", file.keys[k].text, yaml_scalar(file.items[k].value));
        }
        list.items.push_back(std::move(file));
      }
    }
    if (problems_.size() != before) {
      dropped(raw);
      return;
    }
    const std::string key = last_key(path);
    note(key_mark, path, "a map", list.items.empty() ? fmt::format("    {}: []", key)
                                                     : fmt::format("    {}:\n{}", key, yaml.substr(0, yaml.size() - 1)));
    raw = std::move(list);
  }

  // Adds `destination` (and `permissions`) to `file`; reports and returns
  // false for a value that is no destination.
  bool destination(const RawNode& d, const std::string& spath, RawNode& file) {
    if (d.kind == K::Scalar) {
      if (d.value.empty()) {
        problems_.add(d.mark, spath, "the destination path must not be empty");
        return false;
      }
      put(file, "destination", d.mark, d);
      return true;
    }
    if (d.kind != K::Map) {
      problems_.add(d.mark, spath, "expected a destination path, a {path, permissions} map or a list of them");
      return false;
    }
    bool ok = true;
    const RawNode* dest = nullptr;
    Mark dest_mark;
    const RawNode* permissions = nullptr;
    Mark permissions_mark;
    for (size_t i = 0; i < d.keys.size(); ++i) {
      const RawKey& k = d.keys[i];
      const RawNode& v = d.items[i];
      if (k.text == "path" || k.text == "permissions") {
        if (v.kind != K::Scalar || v.value.empty()) {
          problems_.add(v.mark, join_path(spath, k.text), "expected a non-empty string");
          ok = false;
        } else if (k.text == "path") {
          dest = &v, dest_mark = k.mark;
        } else {
          permissions = &v, permissions_mark = k.mark;
        }
        continue;
      }
      auto hint = closest(k.text, kDestinationKeys);
      problems_.add(k.mark, join_path(spath, k.text),
                    hint ? fmt::format("unknown key (did you mean '{}'?)", *hint) : "unknown key");
      ok = false;
    }
    if (ok && !dest) {
      problems_.add(d.mark, spath, "missing required key 'path'");
      ok = false;
    }
    if (!ok) return false;
    put(file, "destination", dest_mark, *dest);
    if (permissions) put(file, "permissions", permissions_mark, *permissions);
    return true;
  }

  void arg_string(RawNode& raw, const std::string& path, Mark key_mark) {
    std::string error;
    std::optional<std::vector<std::string>> words = kernel_words(raw.value, error);
    if (!words) {
      problems_.add(raw.mark, path, fmt::format("the old single-string form: {}", error));
      dropped(raw);
      return;
    }
    if (words->empty()) {
      problems_.add(raw.mark, path, "expected a list of kernel arguments (the old single-string form must not be empty)");
      dropped(raw);
      return;
    }
    RawNode list;
    list.kind = K::Sequence;
    list.mark = raw.mark;
    std::string yaml = fmt::format("    {}:", last_key(path));
    for (std::string& w : *words) {
      yaml += fmt::format("\n    - {}", yaml_scalar(w));
      list.items.push_back(scalar(std::move(w), raw.mark));
    }
    note(key_mark, path, "a single string", yaml);
    raw = std::move(list);
  }

  Problems& problems_;
  std::vector<LegacyNote>& notes_;
};

}  // namespace

std::optional<std::vector<std::string>> kernel_words(std::string_view s, std::string& error) {
  std::vector<std::string> out;
  size_t i = 0;
  const size_t n = s.size();
  while (true) {
    while (i < n && is_blank(s[i])) ++i;
    if (i >= n) break;
    const size_t start = i;
    std::string value;
    while (i < n && !is_blank(s[i])) {
      const char c = s[i];
      if (c == '\\') {
        if (i + 1 >= n) {
          error = "a '\\' at the end must be followed by a character";
          return std::nullopt;
        }
        if (s[i + 1] != '\n') value += s[i + 1];  // backslash-newline: a line continuation
        i += 2;
      } else if (c == '\'') {
        const size_t close = s.find('\'', i + 1);
        if (close == SV::npos) {
          error = "missing closing single quote";
          return std::nullopt;
        }
        value.append(s.substr(i + 1, close - i - 1));
        i = close + 1;
      } else if (c == '"') {
        bool closed = false;
        for (++i; i < n; ++i) {
          if (s[i] == '"') {
            closed = true;
            ++i;
            break;
          }
          // Inside "...", a backslash escapes only $ " \ and newline.
          if (s[i] == '\\' && i + 1 < n && SV("$\"\\\n").find(s[i + 1]) != SV::npos) {
            if (s[i + 1] != '\n') value += s[i + 1];
            ++i;
            continue;
          }
          value += s[i];
        }
        if (!closed) {
          error = "missing closing double quote";
          return std::nullopt;
        }
      } else {
        value += c;
        ++i;
      }
    }
    const bool keep_written = value.find_first_of(" \t\n\r\"") != std::string::npos;
    out.push_back(keep_written ? std::string(s.substr(start, i - start)) : std::move(value));
  }
  return out;
}

void translate_old_forms(RawNode& root, const schema::Type& type, Problems& problems, std::vector<LegacyNote>& notes) {
  Rewriter(problems, notes).walk(root, type, "", root.mark);
}

}  // namespace imgrecipe::config
