#include "host/security/names.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace imgrecipe::names {
namespace {

bool is_control(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

std::string describe_char(char c) {
  switch (c) {
    case '\n': return "a newline";
    case '\r': return "a carriage return";
    case '\t': return "a tab";
    case '\0': return "a NUL byte";
    case '\x1b': return "an escape character";
    case ' ': return "a space";
    default: break;
  }
  if (is_control(c)) return fmt::format("control character 0x{:02x}", static_cast<unsigned char>(c));
  return fmt::format("'{}'", c);
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace

Problem account_name(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxAccountName) return fmt::format("longer than {} characters", kMaxAccountName);
  if (name == "." || name == "..") return "must not be '.' or '..'";
  if (name.front() == '-') return "must not start with '-'";
  if (std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "must not be all digits (it would read as a numeric ID)";
  }
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (is_alnum(c) || c == '_' || c == '.' || c == '-') continue;
    if (c == '$' && i + 1 == name.size()) continue;  // Samba machine accounts
    return fmt::format("must not contain {} (allowed: letters, digits, '_', '.', '-', and '$' at the end)",
                       describe_char(c));
  }
  return std::nullopt;
}

Problem env_name(std::string_view name) {
  if (name.empty()) return "must not be empty";
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')) continue;
    if (i == 0 && c >= '0' && c <= '9') return "must not start with a digit";
    return fmt::format("must not contain {} (allowed: letters, digits and '_')", describe_char(c));
  }
  return std::nullopt;
}

Problem env_value(std::string_view value) {
  if (value.find('\0') != std::string_view::npos) return "must not contain a NUL byte";
  return std::nullopt;
}

Problem kernel_argument(std::string_view arg) {
  if (arg.find_first_not_of(' ') == std::string_view::npos) return "must not be empty";
  size_t quotes = 0;
  for (char c : arg) {
    if (is_control(c)) return fmt::format("must not contain {}", describe_char(c));
    // GRUB 2.06's linux command hands both to the kernel with a backslash
    // before them (grub-core/lib/cmdline.c): they cannot arrive as written.
    // Every other character is quoted where grub.cfg is written (grub.quote_arg).
    if (c == '\'' || c == '\\') {
      return fmt::format("must not contain {} (GRUB passes it to the kernel with a backslash before it)",
                         describe_char(c));
    }
    if (c == '"') ++quotes;
  }
  if (quotes % 2 != 0) return "unbalanced double quote";
  return std::nullopt;
}

std::string shown(std::string_view value, size_t max_chars) {
  std::string out;
  size_t used = 0;
  for (; used < value.size() && out.size() < max_chars; ++used) {
    char c = value[used];
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (is_control(c)) {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  if (used < value.size()) {
    // Never cut inside a UTF-8 sequence.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    out += fmt::format("… ({} bytes)", value.size());
  }
  return out;
}

}  // namespace imgrecipe::names
