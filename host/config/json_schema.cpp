#include "host/config/json_schema.hpp"

#include <string_view>
#include <utility>
#include <vector>

#include "host/config/schema.hpp"
#include "host/system/json_text.hpp"

namespace imgrecipe::config {
namespace {

using schema::Kind;
using schema::Type;

// A minimal JSON value: enough to build the schema and print it indented.
struct J {
  enum class T { Raw, Str, Arr, Obj } t = T::Raw;
  std::string text;                               // Raw: JSON text; Str: the string
  std::vector<J> items;                           // Arr
  std::vector<std::pair<std::string, J>> fields;  // Obj, in insertion order

  static J raw(std::string s) { return {T::Raw, std::move(s), {}, {}}; }
  static J str(std::string_view s) { return {T::Str, std::string(s), {}, {}}; }
  static J arr(std::vector<J> v = {}) { return {T::Arr, {}, std::move(v), {}}; }
  static J obj() { return {T::Obj, {}, {}, {}}; }
  J& set(std::string key, J value) {
    fields.emplace_back(std::move(key), std::move(value));
    return *this;
  }
};

void print(const J& v, int depth, std::string& out) {
  const std::string pad(static_cast<size_t>(depth + 1) * 2, ' ');
  const std::string close(static_cast<size_t>(depth) * 2, ' ');
  switch (v.t) {
    case J::T::Raw: out += v.text; return;
    case J::T::Str: out += '"' + json_escape(v.text) + '"'; return;
    case J::T::Arr: {
      // Arrays of scalars (enums, type lists) on one line.
      bool flat = true;
      for (const J& i : v.items) flat = flat && (i.t == J::T::Raw || i.t == J::T::Str);
      out += '[';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += flat ? ", " : ",";
        if (!flat) out += '\n' + pad;
        print(v.items[i], depth + 1, out);
      }
      if (!flat && !v.items.empty()) out += '\n' + close;
      out += ']';
      return;
    }
    case J::T::Obj: {
      out += '{';
      for (size_t i = 0; i < v.fields.size(); ++i) {
        out += i ? ",\n" : "\n";
        out += pad + '"' + json_escape(v.fields[i].first) + "\": ";
        print(v.fields[i].second, depth + 1, out);
      }
      if (!v.fields.empty()) out += '\n' + close;
      out += '}';
      return;
    }
  }
}

// YAML 1.1 words ALIC's reader takes as booleans when quoted or not
// recognised by a YAML 1.2 reader (typing.cpp parse_bool).
constexpr std::string_view kBoolWords[] = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
                                           "n", "N", "no",  "No",  "NO",  "off", "Off", "OFF"};

J types(std::initializer_list<std::string_view> names, bool nullable) {
  J a = J::arr();
  for (std::string_view n : names) a.items.push_back(J::str(n));
  if (nullable) a.items.push_back(J::str("null"));
  return a.items.size() == 1 ? std::move(a.items[0]) : a;
}

// `nullable`: a null value is accepted (the loader treats it as absent, or
// as the item type's zero value in a list).
J type_schema(const Type& type, bool nullable, bool non_empty);

J object_schema(const Type& type, bool nullable) {
  J o = J::obj();
  o.set("type", types({"object"}, nullable));
  J props = J::obj();
  J required = J::arr();
  for (const schema::Field& f : type.fields) {
    J p = type_schema(*f.type, !f.required, f.required);
    std::string d(f.description);
    if (!f.preview.empty()) d += " Needs previewFeatures: " + std::string(f.preview) + ".";
    if (!f.supported) d += " Valid, but not supported by imgrecipe yet.";
    if (!d.empty()) {
      // Description and default first, so editors show them on top.
      J q = J::obj();
      q.set("description", J::str(d));
      if (!f.default_value.empty()) q.set("default", J::raw(std::string(f.default_value)));
      for (auto& kv : p.fields) q.fields.push_back(std::move(kv));
      p = std::move(q);
    }
    props.set(std::string(f.name), std::move(p));
    if (f.required) required.items.push_back(J::str(f.name));
  }
  o.set("properties", std::move(props));
  o.set("additionalProperties", J::raw("false"));
  if (!required.items.empty()) o.set("required", std::move(required));
  if (!type.from_scalar) return o;
  // Also written as a single string (mountPoint: /boot, oci: uri, ...).
  J any = J::obj();
  any.set("anyOf", J::arr());
  any.fields[0].second.items.push_back(J::obj().set("type", J::str("string")));
  any.fields[0].second.items.push_back(std::move(o));
  return any;
}

J type_schema(const Type& type, bool nullable, bool non_empty) {
  J s = J::obj();
  switch (type.kind) {
    case Kind::String:
      // Any scalar is read as text (permissions: 0644, hostname: 123).
      s.set("type", types({"string", "number", "boolean"}, nullable));
      if (non_empty) s.set("minLength", J::raw("1"));
      return s;
    case Kind::Enum: {
      J values = J::arr();
      for (std::string_view v : type.values) values.items.push_back(J::str(v));
      if (type.allow_empty && !non_empty) values.items.push_back(J::str(""));
      if (nullable) values.items.push_back(J::raw("null"));
      s.set("enum", std::move(values));
      return s;
    }
    case Kind::Int:
      s.set("type", types({"integer"}, nullable));
      if (type.min < type.max) {
        s.set("minimum", J::raw(std::to_string(type.min)));
        s.set("maximum", J::raw(std::to_string(type.max)));
      }
      return s;
    case Kind::Bool: {
      J words = J::arr();
      for (std::string_view w : kBoolWords) words.items.push_back(J::str(w));
      J any = J::arr();
      any.items.push_back(J::obj().set("type", types({"boolean"}, nullable)));
      any.items.push_back(J::obj().set("enum", std::move(words)));
      s.set("anyOf", std::move(any));
      return s;
    }
    case Kind::StringMap:
      s.set("type", types({"object"}, nullable));
      s.set("additionalProperties", J::obj().set("type", types({"string", "number", "boolean"}, true)));
      return s;
    case Kind::Object: return object_schema(type, nullable);
    case Kind::List: {
      s.set("type", types({"array"}, nullable));
      const bool item_nullable = type.item->kind != Kind::Object;
      s.set("items", type_schema(*type.item, item_nullable, false));
      if (type.old_form == schema::OldForm::None) return s;
      // The older form imgrecipe rewrites at load (old_forms.hpp).
      J old = J::obj();
      if (type.old_form == schema::OldForm::ArgString) {
        old.set("type", J::str("string"));
        old.set("description", J::str("Older form: the kernel arguments as one string."));
      } else {
        J dest = J::obj();
        dest.set("anyOf", J::arr());
        dest.fields[0].second.items.push_back(J::obj().set("type", J::str("string")));
        dest.fields[0].second.items.push_back(
            J::obj().set("type", J::str("array")).set("items", J::obj().set("type", J::str("string"))));
        old.set("type", J::str("object"));
        old.set("description", J::str("Older form: a map of source file to destination path(s)."));
        old.set("additionalProperties", std::move(dest));
      }
      J any = J::obj();
      any.set("anyOf", J::arr());
      any.fields[0].second.items.push_back(std::move(s));
      any.fields[0].second.items.push_back(std::move(old));
      return any;
    }
  }
  return s;
}

}  // namespace

std::string json_schema() {
  J root = J::obj();
  root.set("$schema", J::str("https://json-schema.org/draft/2020-12/schema"));
  root.set("title", J::str("imgrecipe configuration"));
  root.set("description",
           J::str("The YAML configuration of `imgrecipe build` (Azure Linux Image Customizer 1.7 schema). "
                  "Generated by `imgrecipe schema` from the tables `imgrecipe validate` uses; cross-field rules "
                  "are checked by `imgrecipe validate` only."));
  J body = type_schema(schema::root(), false, false);
  for (auto& kv : body.fields) root.fields.push_back(std::move(kv));
  std::string out;
  print(root, 0, out);
  out += '\n';
  return out;
}

}  // namespace imgrecipe::config
