// User passwords as ALIC's os.users[].password describes them, turned into
// the password field of /etc/shadow. Plain-text passwords are hashed here
// (SHA-512 crypt, random salt) so neither the password nor its hash ever
// reaches a command line, a log line or an error message.
#pragma once

#include <string>
#include <string_view>

namespace imgrecipe::password {

enum class Type { Locked, PlainText, Hashed, PlainTextFile, HashedFile };

// "locked", "plain-text", "hashed", "plain-text-file", "hashed-file".
Type parse_type(std::string_view name);

// SHA-512 crypt ("$6$<salt>$<hash>") of `plain` with a fresh random salt.
std::string sha512_crypt(std::string_view plain);
// Whether `plain` hashes to `hash` (any method libcrypt knows).
bool matches(std::string_view plain, std::string_view hash);

// The shadow password field for a password spec; "" when there is none
// (locked, or an empty password, as ALIC treats it). `value` is the password,
// the hash, or for the *-file types a file path relative to `base_dir`.
std::string shadow_field(Type type, std::string_view value, const std::string& base_dir);

}  // namespace imgrecipe::password
