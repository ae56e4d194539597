#include "host/config/typing.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "host/config/suggest.hpp"
#include "host/security/names.hpp"

namespace imgrecipe::config {
namespace {

using schema::Kind;
using schema::Type;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string unknown_key_message(const Type& type, const std::string& key) {
  std::vector<std::string_view> names;
  for (const schema::Field& f : type.fields) names.push_back(f.name);
  std::optional<std::string> sibling = closest(key, names);
  // A key that belongs one level down ("extraCommandLine" directly under os),
  // if exactly one child object has it.
  std::optional<std::string> nested;
  int nested_count = 0;
  for (const schema::Field& f : type.fields) {
    const Type* child = f.type->kind == Kind::List ? f.type->item : f.type;
    if (child->kind != Kind::Object) continue;
    for (const schema::Field& g : child->fields) {
      if (!iequals(g.name, key)) continue;
      nested = fmt::format("{}.{}", f.name, g.name);
      ++nested_count;
    }
  }
  if (nested_count != 1) nested.reset();
  // A one-letter slip beats a move; otherwise the exact key one level down wins.
  if (sibling && (!nested || edit_distance(key, *sibling) <= 1)) {
    return fmt::format("unknown key (did you mean '{}'?)", *sibling);
  }
  if (nested) return fmt::format("unknown key (did you mean '{}'?)", *nested);
  return "unknown key";
}

std::string expected_values(std::span<const std::string_view> values) {
  std::string out;
  for (std::string_view v : values) {
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

// ALIC's YAML library reads these as booleans in a bool field; quoted forms of
// the YAML 1.1 words count too, quoted "true" does not.
std::optional<bool> parse_bool(const RawNode& raw) {
  static const std::string_view kTrue[] = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"};
  static const std::string_view kFalse[] = {"n", "N", "no", "No", "NO", "off", "Off", "OFF"};
  const std::string& v = raw.value;
  if (raw.plain && (v == "true" || v == "True" || v == "TRUE")) return true;
  if (raw.plain && (v == "false" || v == "False" || v == "FALSE")) return false;
  if (std::find(std::begin(kTrue), std::end(kTrue), v) != std::end(kTrue)) return true;
  if (std::find(std::begin(kFalse), std::end(kFalse), v) != std::end(kFalse)) return false;
  return std::nullopt;
}

// A null list item reads as the zero value of the item type, as in ALIC.
RawNode zero_value(const RawNode& null, const Type& type) {
  RawNode n;
  n.mark = null.mark;
  switch (type.kind) {
    case Kind::Object:
    case Kind::StringMap: n.kind = RawNode::Kind::Map; break;
    case Kind::List: n.kind = RawNode::Kind::Sequence; break;
    case Kind::Int: n = {RawNode::Kind::Scalar, "0", true, {}, {}, null.mark}; break;
    case Kind::Bool: n = {RawNode::Kind::Scalar, "false", true, {}, {}, null.mark}; break;
    default: n = {RawNode::Kind::Scalar, "", false, {}, {}, null.mark}; break;
  }
  return n;
}

class Typer {
 public:
  explicit Typer(Problems& problems) : problems_(problems) {}

  std::optional<Node> value(const RawNode& raw, const Type& type, const std::string& path) {
    switch (type.kind) {
      case Kind::String:
      case Kind::Enum: return string(raw, type, path);
      case Kind::Int: return integer(raw, type, path);
      case Kind::Bool: return boolean(raw, path);
      case Kind::List: return list(raw, type, path);
      case Kind::StringMap: return string_map(raw, type, path);
      case Kind::Object: return object(raw, type, path);
    }
    return std::nullopt;
  }

 private:
  void problem(Mark mark, const std::string& path, std::string message) {
    problems_.add(mark, path, std::move(message));
  }

  static Node scalar_node(const RawNode& raw, Node::Kind kind) {
    Node n;
    n.kind = kind;
    n.str = raw.value;
    n.mark = raw.mark;
    return n;
  }

  std::optional<Node> string(const RawNode& raw, const Type& type, const std::string& path) {
    if (raw.kind != RawNode::Kind::Scalar) {
      problem(raw.mark, path, "expected a string");
      return std::nullopt;
    }
    if (type.kind == Kind::Enum && !(raw.value.empty() && type.allow_empty) &&
        std::find(type.values.begin(), type.values.end(), raw.value) == type.values.end()) {
      problem(raw.mark, path,
              fmt::format("invalid value '{}': expected one of {}", names::shown(raw.value), expected_values(type.values)));
      return std::nullopt;
    }
    if (type.check) {
      if (auto error = type.check(raw.value)) {
        problem(raw.mark, path, *error);
        return std::nullopt;
      }
    }
    return scalar_node(raw, Node::Kind::String);
  }

  std::optional<Node> integer(const RawNode& raw, const Type& type, const std::string& path) {
    std::optional<long long> v;
    if (raw.kind == RawNode::Kind::Scalar && raw.plain) v = parse_yaml_int(raw.value);
    if (!v) {
      problem(raw.mark, path, "expected an integer");
      return std::nullopt;
    }
    if (type.min < type.max && (*v < type.min || *v > type.max)) {
      problem(raw.mark, path, fmt::format("{} is out of range: expected {} to {}", *v, type.min, type.max));
      return std::nullopt;
    }
    Node n = scalar_node(raw, Node::Kind::Int);
    n.i = *v;
    return n;
  }

  std::optional<Node> boolean(const RawNode& raw, const std::string& path) {
    std::optional<bool> v;
    if (raw.kind == RawNode::Kind::Scalar) v = parse_bool(raw);
    if (!v) {
      problem(raw.mark, path, "expected a boolean (true or false)");
      return std::nullopt;
    }
    Node n = scalar_node(raw, Node::Kind::Bool);
    n.b = *v;
    return n;
  }

  std::optional<Node> list(const RawNode& raw, const Type& type, const std::string& path) {
    if (raw.kind != RawNode::Kind::Sequence) {
      problem(raw.mark, path, "expected a list");
      return std::nullopt;
    }
    Node out;
    out.kind = Node::Kind::Sequence;
    out.mark = raw.mark;
    bool ok = true;
    for (size_t i = 0; i < raw.items.size(); ++i) {
      const RawNode& item = raw.items[i];
      std::optional<Node> n = item.kind == RawNode::Kind::Null
                                  ? value(zero_value(item, *type.item), *type.item, index_path(path, i))
                                  : value(item, *type.item, index_path(path, i));
      if (n) {
        out.items.push_back(std::move(*n));
      } else {
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // Reports a key seen before in the same map; returns true if it is a duplicate.
  bool duplicate(std::map<std::string, Mark>& seen, const RawKey& key, const std::string& path) {
    auto [it, inserted] = seen.emplace(key.text, key.mark);
    if (inserted) return false;
    problem(key.mark, path, fmt::format("duplicate key (first defined at line {})", it->second.line));
    return true;
  }

  std::optional<Node> string_map(const RawNode& raw, const Type& type, const std::string& path) {
    if (raw.kind != RawNode::Kind::Map) {
      problem(raw.mark, path, "expected a map");
      return std::nullopt;
    }
    Node out;
    out.kind = Node::Kind::Map;
    out.mark = raw.mark;
    const Type value_type{.check = type.check};
    std::map<std::string, Mark> seen;
    bool ok = true;
    for (size_t i = 0; i < raw.keys.size(); ++i) {
      const RawKey& key = raw.keys[i];
      std::string key_path = join_path(path, key.text);
      if (duplicate(seen, key, key_path)) {
        ok = false;
        continue;
      }
      const RawNode& item = raw.items[i];
      // A null value reads as "", as ALIC decodes into map[string]string.
      std::optional<Node> n = item.kind == RawNode::Kind::Null
                                  ? string(zero_value(item, Type{}), value_type, key_path)
                                  : string(item, value_type, key_path);
      if (!n) {
        ok = false;
        continue;
      }
      n->key_mark = key.mark;
      out.fields.emplace_back(key.text, std::move(*n));
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<Node> object(const RawNode& raw, const Type& type, const std::string& path) {
    if (raw.kind == RawNode::Kind::Scalar && type.from_scalar) {
      std::string error;
      std::optional<Node> n = type.from_scalar(scalar_node(raw, Node::Kind::String), error);
      if (!n) {
        problem(raw.mark, path, error);
        return std::nullopt;
      }
      return object_fields_checked(std::move(*n), type, path);
    }
    if (raw.kind != RawNode::Kind::Map) {
      problem(raw.mark, path, type.from_scalar ? "expected a string or a map" : "expected a map");
      return std::nullopt;
    }
    const size_t before = problems_.size();
    Node out;
    out.kind = Node::Kind::Map;
    out.mark = raw.mark;
    std::map<std::string, Mark> seen;
    for (size_t i = 0; i < raw.keys.size(); ++i) {
      const RawKey& key = raw.keys[i];
      const RawNode& v = raw.items[i];
      std::string key_path = join_path(path, key.text);
      if (duplicate(seen, key, key_path)) continue;
      const schema::Field* field = schema::find_field(type, key.text);
      if (!field) {
        problem(key.mark, key_path, unknown_key_message(type, key.text));
        continue;
      }
      if (v.kind == RawNode::Kind::Null) {
        if (field->required) problem(key.mark, key_path, "must not be empty");
        continue;  // ALIC treats null as absent
      }
      if (field->required && v.kind == RawNode::Kind::Scalar && v.value.empty() &&
          (field->type->kind == Kind::String || field->type->kind == Kind::Enum)) {
        problem(v.mark, key_path, "must not be empty");
        continue;
      }
      std::optional<Node> n = value(v, *field->type, key_path);
      if (!n) continue;
      n->key_mark = key.mark;
      out.fields.emplace_back(key.text, std::move(*n));
    }
    for (const schema::Field& f : type.fields) {
      if (f.required && !seen.contains(std::string(f.name))) {
        problem(raw.mark, path, fmt::format("missing required key '{}'", f.name));
      }
    }
    if (problems_.size() != before) return std::nullopt;
    if (type.rule) type.rule(out, path, problems_);
    return out;
  }

  // The object form made from a scalar still gets its field checks and rule.
  std::optional<Node> object_fields_checked(Node n, const Type& type, const std::string& path) {
    const size_t before = problems_.size();
    for (auto& [name, child] : n.fields) {
      const schema::Field* field = schema::find_field(type, name);
      if (!field || !field->type->check) continue;
      if (field->required && child.str.empty()) {
        problem(child.mark, path, fmt::format("{} must not be empty", name));
      } else if (auto error = field->type->check(child.str)) {
        problem(child.mark, path, *error);
      }
    }
    if (problems_.size() != before) return std::nullopt;
    if (type.rule) type.rule(n, path, problems_);
    return n;
  }

  Problems& problems_;
};

}  // namespace

std::optional<long long> parse_yaml_int(std::string_view text) {
  std::string s;
  for (char ch : text) {
    if (ch != '_') s += ch;
  }
  bool negative = false;
  size_t pos = 0;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    pos = 1;
  }
  int base = 10;
  std::string_view digits = std::string_view(s).substr(pos);
  if (digits.size() > 2 && digits[0] == '0' && std::string_view("xXoObB").find(digits[1]) != std::string_view::npos) {
    base = (digits[1] == 'x' || digits[1] == 'X') ? 16 : (digits[1] == 'o' || digits[1] == 'O') ? 8 : 2;
    digits.remove_prefix(2);
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
  }
  if (digits.empty()) return std::nullopt;
  unsigned long long magnitude = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  const unsigned long long limit = negative ? 9223372036854775808ULL : 9223372036854775807ULL;
  if (magnitude > limit) return std::nullopt;
  return negative ? static_cast<long long>(0 - magnitude) : static_cast<long long>(magnitude);
}

Node type_tree(const RawNode& raw, const schema::Type& type, Problems& problems) {
  Typer typer(problems);
  RawNode root = raw;
  if (root.kind == RawNode::Kind::Null) root.kind = RawNode::Kind::Map;  // a "~" document is an empty config
  std::optional<Node> n = typer.value(root, type, "");
  return n ? std::move(*n) : Node{};
}

}  // namespace imgrecipe::config
