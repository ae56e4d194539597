#include "host/image/tar_header.hpp"

#include <map>

#include <fmt/format.h>

namespace imgrecipe::tar {
namespace {

constexpr std::uint64_t kMaxOctal11 = 077777777777ull;  // 8 GiB - 1

// An octal number in a field of `width` bytes: zero-padded, NUL-terminated.
void put_octal(std::string& b, std::size_t at, std::size_t width, std::uint64_t v) {
  std::string s = fmt::format("{:0{}o}", v, width - 1);
  b.replace(at, s.size(), s);
  b[at + width - 1] = '\0';
}

void put_string(std::string& b, std::size_t at, std::size_t width, std::string_view s) {
  b.replace(at, std::min(s.size(), width), s.substr(0, width));
}

// "<len> <key>=<value>\n", where <len> counts the whole record.
std::string pax_record(std::string_view key, std::string_view value) {
  std::size_t rest = 1 + key.size() + 1 + value.size() + 1;
  std::size_t len = rest + 1;
  while (fmt::formatted_size("{}", len) + rest != len) len = fmt::formatted_size("{}", len) + rest;
  return fmt::format("{} {}={}\n", len, key, value);
}

}  // namespace

std::string ustar_block(std::string_view name, std::uint64_t size, unsigned mode, char typeflag) {
  std::string b(kBlock, '\0');
  put_string(b, 0, 100, name);
  put_octal(b, 100, 8, mode);
  put_octal(b, 108, 8, 0);                                // uid
  put_octal(b, 116, 8, 0);                                // gid
  put_octal(b, 124, 12, size > kMaxOctal11 ? 0 : size);  // the PAX record carries larger sizes
  put_octal(b, 136, 12, 0);                               // mtime
  b[156] = typeflag;
  put_string(b, 257, 8, std::string_view("ustar\0" "00", 8));
  put_octal(b, 329, 8, 0);  // devmajor
  put_octal(b, 337, 8, 0);  // devminor
  // The checksum is computed with its own field as spaces: 6 octal digits, NUL, space.
  b.replace(148, 8, 8, ' ');
  unsigned sum = 0;
  for (unsigned char ch : b) sum += ch;
  put_octal(b, 148, 7, sum);
  b[155] = ' ';
  return b;
}

std::string file_header(std::string_view name, std::uint64_t size, unsigned mode) {
  std::map<std::string, std::string> records;  // sorted by key, as Go writes them
  if (name.size() > 100) records["path"] = std::string(name);
  if (size > kMaxOctal11) records["size"] = fmt::format("{}", size);
  std::string out;
  if (!records.empty()) {
    std::string data;
    for (const auto& [k, v] : records) data += pax_record(k, v);
    std::string n(name);
    auto slash = n.rfind('/');
    std::string pax_name = slash == std::string::npos ? "PaxHeaders.0/" + n
                                                      : n.substr(0, slash + 1) + "PaxHeaders.0/" + n.substr(slash + 1);
    out += ustar_block(pax_name.substr(0, 100), data.size(), 0, 'x');
    out += data;
    out.append(padding(data.size()), '\0');
  }
  out += ustar_block(name, size, mode);
  return out;
}

}  // namespace imgrecipe::tar
