// Names and words that imgrecipe writes into the image's system files: user
// and group names (/etc/passwd, /etc/group, home and ~/.ssh paths), names in
// the environment of commands, and kernel arguments (grub.cfg and
// /etc/default/grub, which is shell). Pure functions; the config checks and
// the Lua stdlib both use them, so a YAML config and a Lua recipe are held
// to the same rules.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imgrecipe::names {

// Why a value is refused, or nothing when it is fine.
using Problem = std::optional<std::string>;

inline constexpr size_t kMaxAccountName = 32;

// shadow-utils' rule for useradd/groupadd without --badname:
// [A-Za-z0-9_.][A-Za-z0-9_.-]*[$]?, at most 32 characters, not all digits,
// not "." or "..". So no '/', ':', ',', whitespace or control characters.
Problem account_name(std::string_view name);

// A portable environment variable name: [A-Za-z_][A-Za-z0-9_]*.
Problem env_name(std::string_view name);
// An environment value: anything but a NUL byte (it would cut the value).
Problem env_value(std::string_view value);

// One kernel argument item (it may hold several words, and quoted values as
// the kernel reads them: foo="a b"). No control characters (a newline would
// start a new grub.cfg line), balanced double quotes, no ' or \ (GRUB 2.06
// passes them to the kernel escaped). Other characters special to GRUB or
// the shell (; $ ` & | < > { }) are allowed: grub.cfg and /etc/default/grub
// writers quote them (stdlib grub.quote_arg).
Problem kernel_argument(std::string_view arg);

// `value` for an error message: at most `max_chars` characters, control
// characters escaped, "… (N bytes)" when cut.
std::string shown(std::string_view value, size_t max_chars = 100);

}  // namespace imgrecipe::names
