// Checks on single values (ALIC reference §5), plus the scalar forms of
// "string or object" fields. Messages quote the value and say what is expected.
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "host/config/checks.hpp"
#include "host/config/paths.hpp"
#include "host/security/names.hpp"

namespace imgrecipe::config::checks {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_digit); }

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

template <typename T>
std::optional<T> parse_number(std::string_view s, int base = 10) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

constexpr unsigned long long kMiB = 1024 * 1024;

// ALIC's DiskSize: ^(\d+)([KMGT])?$, the unit mandatory, a multiple of 1 MiB.
// `expected` describes the accepted forms for the message.
Result parse_size(std::string_view v, std::string_view expected, unsigned long long* bytes) {
  size_t digits = 0;
  while (digits < v.size() && is_digit(v[digits])) ++digits;
  std::string_view number = v.substr(0, digits), unit = v.substr(digits);
  if (digits == 0 || unit.size() > 1 || (unit.size() == 1 && std::string_view("KMGT").find(unit[0]) == std::string_view::npos)) {
    return fmt::format("invalid size '{}': expected {}", names::shown(v), expected);
  }
  if (unit.empty()) return fmt::format("invalid size '{}': missing unit suffix (K, M, G or T)", names::shown(v));
  int shift = unit[0] == 'K' ? 10 : unit[0] == 'M' ? 20 : unit[0] == 'G' ? 30 : 40;
  auto n = parse_number<unsigned long long>(number);
  if (!n || *n > (~0ULL >> shift)) return fmt::format("invalid size '{}': too large", names::shown(v));
  *bytes = *n << shift;
  if (*bytes % kMiB != 0) return fmt::format("invalid size '{}': must be a multiple of 1 MiB", names::shown(v));
  return std::nullopt;
}

constexpr std::string_view kSizeForms = "<number><K|M|G|T> such as 100M or 1G";

bool is_uuid(std::string_view v) {
  static constexpr std::array<size_t, 5> kGroups = {8, 4, 4, 4, 12};
  auto parts = split(v, '-');
  if (parts.size() != kGroups.size()) return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].size() != kGroups[i] ||
        !std::all_of(parts[i].begin(), parts[i].end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
      return false;
    }
  }
  return true;
}

bool is_ipv4(std::string_view v) {
  auto parts = split(v, '.');
  if (parts.size() != 4) return false;
  for (std::string_view p : parts) {
    if (!all_digits(p) || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return false;
    if (*parse_number<int>(p) > 255) return false;
  }
  return true;
}

// govalidator.IsDNSName as ALIC uses it: labels of [A-Za-z0-9_-] (not starting
// with '-'), at most 63 characters, an optional trailing '.', not an IP address.
bool is_dns_name(std::string_view v) {
  if (v.empty() || is_ipv4(v)) return false;
  if (std::count_if(v.begin(), v.end(), [](char c) { return c != '.'; }) > 255) return false;
  if (v.back() == '.') v.remove_suffix(1);
  for (std::string_view label : split(v, '.')) {
    if (label.empty() || label.size() > 63 || label[0] == '-') return false;
    for (char c : label) {
      if (!is_alnum(c) && c != '_' && c != '-') return false;
    }
  }
  return true;
}

bool has_any(std::string_view v, std::string_view chars) { return v.find_first_of(chars) != std::string_view::npos; }

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// Fixed-width field of digits in [lo, hi].
bool field(std::string_view s, size_t pos, size_t len, int lo, int hi, int* out = nullptr) {
  if (pos + len > s.size() || !all_digits(s.substr(pos, len))) return false;
  int v = *parse_number<int>(s.substr(pos, len));
  if (out) *out = v;
  return v >= lo && v <= hi;
}

bool is_date(std::string_view s) {
  int year = 0, month = 0, day = 0;
  return s.size() == 10 && field(s, 0, 4, 0, 9999, &year) && s[4] == '-' && field(s, 5, 2, 1, 12, &month) &&
         s[7] == '-' && field(s, 8, 2, 1, 31, &day) && day <= days_in_month(year, month);
}

// RFC 3339 as Go's time.Parse reads it: date 'T' hh:mm:ss[.frac] (Z | ±hh:mm).
bool is_rfc3339(std::string_view s) {
  if (s.size() < 20 || !is_date(s.substr(0, 10)) || s[10] != 'T') return false;
  if (!field(s, 11, 2, 0, 23) || s[13] != ':' || !field(s, 14, 2, 0, 59) || s[16] != ':' || !field(s, 17, 2, 0, 59)) {
    return false;
  }
  size_t pos = 19;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    size_t start = ++pos;
    while (pos < s.size() && is_digit(s[pos])) ++pos;
    if (pos == start) return false;
  }
  std::string_view zone = s.substr(pos);
  if (zone == "Z") return true;
  return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && field(zone, 1, 2, 0, 23) && zone[3] == ':' &&
         field(zone, 4, 2, 0, 59);
}

// Docker/OCI repository path: components of [a-z0-9]+ joined by '.', '_', '__'
// or runs of '-' (also ALIC's azureLinux variant rule).
bool is_path_component(std::string_view v) {
  size_t i = 0;
  auto alnum_run = [&] {
    size_t start = i;
    while (i < v.size() && is_lower_alnum(v[i])) ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < v.size()) {
    if (v[i] == '.') {
      ++i;
    } else if (v[i] == '_') {
      i += (i + 1 < v.size() && v[i + 1] == '_') ? 2 : 1;
    } else if (v[i] == '-') {
      while (i < v.size() && v[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnum_run()) return false;
  }
  return true;
}

Node string_node(std::string value, Mark mark) {
  Node n;
  n.kind = Node::Kind::String;
  n.str = std::move(value);
  n.mark = mark;
  n.key_mark = mark;
  return n;
}

Node map_node(Mark mark) {
  Node n;
  n.kind = Node::Kind::Map;
  n.mark = mark;
  return n;
}

}  // namespace

Result hostname(std::string_view v) {
  if (v.empty()) return std::nullopt;
  if (is_ipv4(v)) return fmt::format("invalid hostname '{}': an IP address is not a hostname", names::shown(v));
  if (!is_dns_name(v) || v.find('_') != std::string_view::npos) {
    return fmt::format("invalid hostname '{}': expected a DNS name of letters, digits, '-' and '.' (no '_')", names::shown(v));
  }
  return std::nullopt;
}

Result permissions(std::string_view v) {
  auto mode = std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '7'; })
                  ? parse_number<unsigned int>(v, 8)
                  : std::nullopt;
  if (v.empty() || !mode) return fmt::format("invalid permissions '{}': expected an octal mode such as 0644", names::shown(v));
  if (*mode > 0777) return fmt::format("invalid permissions '{}': only permission bits are allowed (at most 0777)", names::shown(v));
  return std::nullopt;
}

Result size(std::string_view v) {
  unsigned long long bytes = 0;
  return parse_size(v, kSizeForms, &bytes);
}

Result positive_size(std::string_view v) {
  unsigned long long bytes = 0;
  if (auto error = parse_size(v, kSizeForms, &bytes)) return error;
  if (bytes == 0) return fmt::format("invalid size '{}': must be greater than zero", names::shown(v));
  return std::nullopt;
}

unsigned long long size_bytes(std::string_view v) {
  unsigned long long bytes = 0;
  (void)parse_size(v, kSizeForms, &bytes);
  return bytes;
}

Result partition_size(std::string_view v) {
  if (v.empty() || v == "grow") return std::nullopt;
  unsigned long long bytes = 0;
  if (auto error = parse_size(v, "'grow' or <number><K|M|G|T> such as 100M or 1G", &bytes)) return error;
  if (bytes == 0) return fmt::format("invalid size '{}': must be greater than zero", names::shown(v));
  return std::nullopt;
}

Result partition_type(std::string_view v) {
  static constexpr std::string_view kTypes[] = {"esp", "bios-grub", "home", "linux-generic", "root",
                                                "root-verity", "srv", "swap", "tmp", "usr",
                                                "usr-verity", "var", "xbootldr"};
  if (v.empty() || is_uuid(v) || std::find(std::begin(kTypes), std::end(kTypes), v) != std::end(kTypes)) {
    return std::nullopt;
  }
  return fmt::format(
      "invalid partition type '{}': expected one of esp, bios-grub, home, linux-generic, root, root-verity, srv, "
      "swap, tmp, usr, usr-verity, var, xbootldr, or a GUID",
      names::shown(v));
}

Result partition_label(std::string_view v) {
  if (std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) > 0x7f; })) {
    return fmt::format("invalid partition label '{}': must be ASCII", names::shown(v));
  }
  if (v.size() > 35) return fmt::format("invalid partition label '{}': longer than 35 characters", names::shown(v));
  return std::nullopt;
}

Result mount_path(std::string_view v) {
  if (v.empty()) return "must not be empty";
  if (has_any(v, " \t\n:,")) {
    return fmt::format("invalid path '{}': must not contain spaces, tabs, newlines, ':' or ','", names::shown(v));
  }
  if (v.front() != '/') return fmt::format("invalid path '{}': must be absolute", names::shown(v));
  return std::nullopt;
}

Result mount_options(std::string_view v) {
  if (has_any(v, " \t\n")) return fmt::format("invalid options '{}': must not contain spaces, tabs or newlines", names::shown(v));
  return std::nullopt;
}

Result verity_name(std::string_view v) {
  if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
    return fmt::format("invalid verity name '{}': expected lowercase letters only, such as root or usr", names::shown(v));
  }
  return std::nullopt;
}

Result hash_signature_path(std::string_view v) {
  if (v.empty()) return std::nullopt;
  if (auto error = mount_path(v)) return error;
  std::string cleaned = clean_path(v);
  if (cleaned != v) return fmt::format("invalid path '{}': not normalized (use '{}')", names::shown(v), cleaned);
  if (cleaned.rfind("/boot/", 0) != 0) return fmt::format("invalid path '{}': must be under /boot/", names::shown(v));
  return std::nullopt;
}

Result subvolume_path(std::string_view v) {
  if (v.empty()) return "must not be empty";
  auto bad = [&](std::string_view why) { return fmt::format("invalid subvolume path '{}': {}", names::shown(v), why); };
  if (v.front() == '/') return bad("must not start with '/'");
  if (v.back() == '/') return bad("must not end with '/'");
  for (std::string_view part : split(v, '/')) {
    if (part.empty()) return bad("must not contain '//'");
    if (part == "..") return bad("must not contain '..'");
    if (part == ".") return bad("must not contain '.'");
  }
  return std::nullopt;
}

Result module_name(std::string_view v) {
  if (has_any(v, " \n")) return fmt::format("invalid module name '{}': must not contain spaces or newlines", names::shown(v));
  return std::nullopt;
}

Result module_option_value(std::string_view v) {
  if (v.empty()) return "option value must not be empty";
  if (has_any(v, " \n")) return fmt::format("invalid option value '{}': must not contain spaces or newlines", names::shown(v));
  return std::nullopt;
}

Result not_blank(std::string_view v) {
  if (std::all_of(v.begin(), v.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; })) {
    return "must not be empty or whitespace";
  }
  return std::nullopt;
}

Result kernel_argument(std::string_view v) {
  if (v.empty()) return "kernel argument must not be empty";
  if (auto why = names::kernel_argument(v)) return fmt::format("invalid kernel argument '{}': {}", names::shown(v), *why);
  return std::nullopt;
}

Result user_name(std::string_view v) {
  if (auto why = names::account_name(v)) return fmt::format("invalid user name '{}': {}", names::shown(v), *why);
  return std::nullopt;
}

Result group_name(std::string_view v) {
  if (auto why = names::account_name(v)) return fmt::format("invalid group name '{}': {}", names::shown(v), *why);
  return std::nullopt;
}

Result optional_group_name(std::string_view v) { return v.empty() ? std::nullopt : group_name(v); }

Result service_name(std::string_view v) {
  if (v.empty()) return "service name must not be empty";
  return std::nullopt;
}

Result pxe_url(std::string_view v) {
  static constexpr std::string_view kSchemes[] = {"ftp://", "http://", "https://", "nfs://", "tftp://"};
  if (v.empty()) return std::nullopt;
  bool known = std::any_of(std::begin(kSchemes), std::end(kSchemes), [&](std::string_view s) { return v.starts_with(s); });
  bool control = std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (!known || control) {
    return fmt::format("invalid URL '{}': expected an ftp://, http://, https://, nfs:// or tftp:// URL", names::shown(v));
  }
  return std::nullopt;
}

Result snapshot_time(std::string_view v) {
  if (v.empty() || is_date(v) || is_rfc3339(v)) return std::nullopt;
  return fmt::format("invalid snapshot time '{}': expected YYYY-MM-DD or RFC 3339 such as 2024-05-20T15:04:05Z", names::shown(v));
}

Result azure_linux_variant(std::string_view v) {
  if (is_path_component(v)) return std::nullopt;
  return fmt::format("invalid variant '{}': expected lowercase letters and digits joined by '.', '_' or '-', "
                     "such as minimal-os",
                     names::shown(v));
}

Result azure_linux_version(std::string_view v) {
  auto parts = split(v, '.');
  if ((parts.size() == 2 || parts.size() == 3) && std::all_of(parts.begin(), parts.end(), all_digits)) {
    return std::nullopt;
  }
  return fmt::format("invalid version '{}': expected <MAJOR>.<MINOR>[.<DATE>] such as 3.0 or 3.0.20250910", names::shown(v));
}

// What oras' registry.ParseReference accepts, roughly:
// <registry>/<repository>[:<tag> | @<algorithm>:<hex>].
Result oci_uri(std::string_view v) {
  auto bad = [&] {
    return fmt::format("invalid OCI URI '{}': expected <registry>/<repository>[:<tag>|@<digest>]", names::shown(v));
  };
  size_t slash = v.find('/');
  if (slash == std::string_view::npos || slash == 0) return bad();
  std::string_view registry = v.substr(0, slash), rest = v.substr(slash + 1);
  if (!std::all_of(registry.begin(), registry.end(),
                   [](char c) { return is_alnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'; })) {
    return bad();
  }
  std::string_view repository = rest, reference;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    repository = rest.substr(0, at);
    reference = rest.substr(at + 1);
    size_t colon = reference.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == reference.size()) return bad();
  } else if (size_t colon = rest.rfind(':'); colon != std::string_view::npos && rest.find('/', colon) == std::string_view::npos) {
    repository = rest.substr(0, colon);
    reference = rest.substr(colon + 1);
    bool tag_ok = !reference.empty() && reference.size() <= 128 && (is_alnum(reference[0]) || reference[0] == '_') &&
                  std::all_of(reference.begin(), reference.end(),
                              [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
    if (!tag_ok) return bad();
  }
  if (repository.empty()) return bad();
  for (std::string_view part : split(repository, '/')) {
    if (!is_path_component(part)) return bad();
  }
  return std::nullopt;
}

Result script_path(std::string_view v) {
  if (v.empty() || is_local_path(v)) return std::nullopt;
  if (v.front() == '/') {
    return fmt::format("invalid script path '{}': must be relative to the config file's directory", names::shown(v));
  }
  return fmt::format("invalid script path '{}': must stay inside the config file's directory", names::shown(v));
}

Result absolute_path(std::string_view v) {
  if (v.empty() || v.front() == '/') return std::nullopt;
  return fmt::format("invalid path '{}': must be absolute", names::shown(v));
}

Result artifact_item(std::string_view v) {
  static constexpr std::string_view kItems[] = {"ukis", "shim", "bootloader", "verity-hash"};
  if (v.empty() || std::find(std::begin(kItems), std::end(kItems), v) != std::end(kItems)) return std::nullopt;
  if (v == "uki-addons") return "invalid value 'uki-addons': UKI addons are exported with 'ukis'";
  return fmt::format("invalid value '{}': expected one of ukis, shim, bootloader, verity-hash", names::shown(v));
}

std::optional<Node> mount_point_from_scalar(const Node& scalar, std::string&) {
  Node n = map_node(scalar.mark);
  n.fields.emplace_back("path", string_node(scalar.str, scalar.mark));
  return n;
}

std::optional<Node> oci_image_from_scalar(const Node& scalar, std::string&) {
  Node n = map_node(scalar.mark);
  n.fields.emplace_back("uri", string_node(scalar.str, scalar.mark));
  return n;
}

std::optional<Node> oci_platform_from_scalar(const Node& scalar, std::string& error) {
  auto parts = split(scalar.str, '/');
  if (parts.size() > 2) {
    error = fmt::format("invalid platform '{}': expected OS[/ARCH] such as linux/amd64", names::shown(scalar.str));
    return std::nullopt;
  }
  Node n = map_node(scalar.mark);
  n.fields.emplace_back("os", string_node(std::string(parts[0]), scalar.mark));
  if (parts.size() == 2) n.fields.emplace_back("architecture", string_node(std::string(parts[1]), scalar.mark));
  return n;
}

}  // namespace imgrecipe::config::checks
