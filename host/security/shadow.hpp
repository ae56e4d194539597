// Edits of /etc/shadow done in place of chpasswd/chage, as ALIC does them,
// so password hashes never appear on a command line. Error messages name the
// user and the file, never a line of it.
#pragma once

#include <string>
#include <string_view>

#include "host/fs/root_dir.hpp"

namespace imgrecipe::shadow {

// `text` with the password field of `user` replaced by `field`.
std::string with_password(std::string_view text, std::string_view user, std::string_view field);

// ALIC's passwordExpiresDays: -1 clears the maximum age, warning, inactivity,
// expiration and reserved fields; N >= 0 sets the account expiration date to
// the last password change (set to `today` if empty) plus N days.
std::string with_expiry(std::string_view text, std::string_view user, long long days, long long today);

// Days since 1970-01-01 (UTC), the unit of /etc/shadow dates.
long long days_since_epoch();

// Sets `user`'s password field in the image's /etc/shadow. An empty `field`
// means "no password": a new user keeps what useradd wrote ("!"), an
// existing user gets "*" (no password login; key login still works), as ALIC.
void set_password(const RootDir& root, std::string_view user, std::string_view field, bool new_user);
void set_expiry(const RootDir& root, std::string_view user, long long days);

}  // namespace imgrecipe::shadow
