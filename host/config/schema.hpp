// The config schema as data: one descriptor per field, nested through types.
// Typing (typing.cpp), per-field rules, preview gating and unsupported_keys()
// are all driven from these tables, so a new ALIC key is one table entry.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "host/config/config.hpp"
#include "host/config/problems.hpp"

namespace imgrecipe::config::schema {

// Checks one scalar value; returns the problem, or nothing if it is fine.
using ScalarCheck = std::optional<std::string> (*)(std::string_view value);
// Checks a whole object once its fields are typed (rules spanning its fields).
using ObjectRule = void (*)(const Node& object, const std::string& path, Problems& problems);
// "String or object" types: turns the scalar form into the object form; on
// failure sets `error` and returns nothing.
using ScalarExpander = std::optional<Node> (*)(const Node& scalar, std::string& error);

enum class Kind {
  String,
  Int,
  Bool,
  Enum,       // a string from `values`
  Object,     // a map with the keys in `fields`
  List,       // a list of `item`
  StringMap,  // a map of free-form keys to strings
};

struct Field;

// An older spelling of a list that ALIC's documentation still shows; the
// loader rewrites it into today's form with a warning (old_forms.hpp).
enum class OldForm {
  None,
  FileMap,    // additionalFiles as a map of source -> destination(s)
  ArgString,  // extraCommandLine as one string
};

struct Type {
  Kind kind = Kind::String;
  std::span<const std::string_view> values = {};  // Enum
  bool allow_empty = true;                        // Enum: "" means "unset" (most ALIC enums)
  std::span<const Field> fields = {};             // Object
  const Type* item = nullptr;                     // List
  long long min = 0, max = 0;                     // Int range (if min < max)
  ScalarCheck check = nullptr;                    // String/Enum/StringMap values
  ObjectRule rule = nullptr;                      // Object
  ScalarExpander from_scalar = nullptr;           // Object that also accepts a scalar
  OldForm old_form = OldForm::None;               // List: an older form also accepted
};

struct Field {
  std::string_view name = {};
  const Type* type = nullptr;
  bool required = false;       // must be present and not an empty string
  bool supported = false;      // implemented by imgrecipe (see unsupported_keys)
  std::string_view preview = {};  // preview feature that must be enabled to use it
  std::string_view default_value = {};  // JSON text of ALIC's default, for `imgrecipe schema`
  std::string_view description = {};  // one line for `imgrecipe schema` (editors' hover text)
};

// The top-level config object.
const Type& root();
// A package-list file: `packages: [name, ...]`.
const Type& package_list();

// The field named `name` in an Object type, or nullptr.
const Field* find_field(const Type& object, std::string_view name);

}  // namespace imgrecipe::config::schema
