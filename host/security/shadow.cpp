#include "host/security/shadow.hpp"

#include <ctime>
#include <vector>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe::shadow {
namespace {

constexpr std::string_view kShadow = "/etc/shadow";

struct Line {
  size_t begin = 0, end = 0;  // [begin, end) without the line break
};

// The line of `user`, found by its exact first field.
Line find_user(std::string_view text, std::string_view user) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > user.size() && line.substr(0, user.size()) == user && line[user.size()] == ':') {
      return {pos, end};
    }
    pos = end + 1;
  }
  throw Error(ErrorKind::Usage, fmt::format("user '{}' not found in {}", user, kShadow));
}

std::vector<std::string> split_fields(std::string_view line) {
  std::vector<std::string> fields;
  size_t pos = 0;
  for (;;) {
    size_t c = line.find(':', pos);
    if (c == std::string_view::npos) {
      fields.emplace_back(line.substr(pos));
      return fields;
    }
    fields.emplace_back(line.substr(pos, c - pos));
    pos = c + 1;
  }
}

std::string join_fields(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ':';
    out += fields[i];
  }
  return out;
}

std::string replace_line(std::string_view text, Line l, const std::string& line) {
  std::string out;
  out.reserve(text.size() + line.size());
  out.append(text.substr(0, l.begin));
  out.append(line);
  out.append(text.substr(l.end));
  return out;
}

std::string read_shadow(const RootDir& root) {
  auto text = root.read_file(kShadow);
  if (!text) throw Error(ErrorKind::Usage, fmt::format("the image has no {}", kShadow));
  return *text;
}

}  // namespace

std::string with_password(std::string_view text, std::string_view user, std::string_view field) {
  Line l = find_user(text, user);
  std::string_view line = text.substr(l.begin, l.end - l.begin);
  size_t first = user.size() + 1;
  size_t second = line.find(':', first);
  std::string rest = second == std::string_view::npos ? "" : std::string(line.substr(second));
  return replace_line(text, l, fmt::format("{}:{}{}", user, field, rest));
}

std::string with_expiry(std::string_view text, std::string_view user, long long days, long long today) {
  enum { kLastChange = 2, kMaxAge = 4, kWarn = 5, kInactive = 6, kExpire = 7, kReserved = 8, kCount = 9 };
  if (days < -1) throw Error(ErrorKind::Usage, fmt::format("passwordExpiresDays of user '{}' must be -1 or more", user));
  Line l = find_user(text, user);
  auto fields = split_fields(text.substr(l.begin, l.end - l.begin));
  if (fields.size() != kCount) {
    throw Error(ErrorKind::Usage, fmt::format("invalid {} entry for user '{}': {} fields instead of {}", kShadow, user,
                                              fields.size(), static_cast<int>(kCount)));
  }
  if (days == -1) {
    for (int i : {kMaxAge, kWarn, kInactive, kExpire, kReserved}) fields[i].clear();
  } else {
    if (fields[kLastChange].empty()) fields[kLastChange] = std::to_string(today);
    long long last;
    try {
      size_t used = 0;
      last = std::stoll(fields[kLastChange], &used);
      if (used != fields[kLastChange].size()) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      throw Error(ErrorKind::Usage, fmt::format("invalid {} entry for user '{}': bad date of last password change",
                                                kShadow, user));
    }
    fields[kExpire] = std::to_string(last + days);
  }
  return replace_line(text, l, join_fields(fields));
}

long long days_since_epoch() { return static_cast<long long>(std::time(nullptr)) / 86400; }

void set_password(const RootDir& root, std::string_view user, std::string_view field, bool new_user) {
  if (field.empty() && new_user) return;
  std::string text = read_shadow(root);
  std::string updated = with_password(text, user, field.empty() ? std::string_view("*") : field);
  root.write_file(kShadow, updated);
}

void set_expiry(const RootDir& root, std::string_view user, long long days) {
  std::string text = read_shadow(root);
  root.write_file(kShadow, with_expiry(text, user, days, days_since_epoch()));
}

}  // namespace imgrecipe::shadow
