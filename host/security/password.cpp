#include "host/security/password.hpp"

#include <crypt.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "host/system/error.hpp"
#include "host/system/host_file.hpp"

namespace imgrecipe::password {
namespace {

// struct crypt_data is large (32 KiB); keep it off the stack and wipe it,
// since it holds the phrase while hashing.
struct CryptData {
  crypt_data data;
  CryptData() { std::memset(&data, 0, sizeof data); }
  ~CryptData() { explicit_bzero(&data, sizeof data); }
};

void check_field(std::string_view hash, std::string_view what) {
  // The value itself is never shown: it is a secret.
  if (hash.find_first_of(":\n") != std::string_view::npos) {
    throw Error(ErrorKind::Usage, fmt::format("{}: a password hash must not contain ':' or a line break", what));
  }
}

}  // namespace

Type parse_type(std::string_view name) {
  if (name.empty() || name == "locked") return Type::Locked;
  if (name == "plain-text") return Type::PlainText;
  if (name == "hashed") return Type::Hashed;
  if (name == "plain-text-file") return Type::PlainTextFile;
  if (name == "hashed-file") return Type::HashedFile;
  throw Error(ErrorKind::Usage, fmt::format("unknown password type '{}' (expected locked, plain-text, hashed, "
                                            "plain-text-file or hashed-file)", name));
}

std::string sha512_crypt(std::string_view plain) {
  if (plain.find('\0') != std::string_view::npos) {
    throw Error(ErrorKind::Usage, "a password must not contain a NUL byte");
  }
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // No random bytes passed: libcrypt takes them from the kernel (getrandom).
  if (crypt_gensalt_rn("$6$", 0, nullptr, 0, setting, sizeof setting) == nullptr) {
    throw_errno("generate password salt", "$6$");
  }
  auto cd = std::make_unique<CryptData>();
  std::string phrase(plain);
  const char* out = crypt_rn(phrase.c_str(), setting, &cd->data, sizeof cd->data);
  explicit_bzero(phrase.data(), phrase.size());
  if (out == nullptr || out[0] == '*') throw Error(ErrorKind::System, "hashing a password failed (SHA-512 crypt)");
  return std::string(out);
}

bool matches(std::string_view plain, std::string_view hash) {
  auto cd = std::make_unique<CryptData>();
  std::string phrase(plain), setting(hash);
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), &cd->data, sizeof cd->data);
  explicit_bzero(phrase.data(), phrase.size());
  return out != nullptr && out[0] != '*' && hash == out;
}

std::string shadow_field(Type type, std::string_view value, const std::string& base_dir) {
  std::string secret;
  std::string what = "password";
  switch (type) {
    case Type::Locked: return "";
    case Type::PlainText:
    case Type::Hashed: secret = value; break;
    case Type::PlainTextFile:
    case Type::HashedFile: {
      std::string path = !value.empty() && value[0] == '/' ? std::string(value) : base_dir + "/" + std::string(value);
      secret = read_host_file(path, "read password file");
      what = fmt::format("password file '{}'", path);
      // One line, as `openssl passwd -stdin` (ALIC) reads it; a final line
      // break is not part of the password.
      if (!secret.empty() && secret.back() == '\n') secret.pop_back();
      if (!secret.empty() && secret.back() == '\r') secret.pop_back();
      if (secret.find('\n') != std::string::npos) {
        explicit_bzero(secret.data(), secret.size());
        throw Error(ErrorKind::Usage, fmt::format("{}: must hold a single line", what));
      }
      break;
    }
  }
  if (secret.empty()) return "";
  if (type == Type::Hashed || type == Type::HashedFile) {
    check_field(secret, what);
    return secret;
  }
  std::string hash = sha512_crypt(secret);
  explicit_bzero(secret.data(), secret.size());
  return hash;
}

}  // namespace imgrecipe::password
