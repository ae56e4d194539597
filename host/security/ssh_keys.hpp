// A user's ~/.ssh/authorized_keys, written as ALIC does: the .ssh directory
// created 0700 if missing, the file rewritten 0600, both owned by the user.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "host/fs/root_dir.hpp"

namespace imgrecipe {

struct AuthorizedKeys {
  std::string user;  // for messages
  std::string home;  // home directory in the image
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<std::string> key_files;  // host files, one key per line
  std::vector<std::string> keys;
  bool keep_existing = false;  // existing users keep the keys they have
};

// Writes the keys; returns how many lines the file holds. Nothing is done
// when there are no keys to add.
size_t write_authorized_keys(const RootDir& root, const AuthorizedKeys& spec);

}  // namespace imgrecipe
