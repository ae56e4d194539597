// `validate --validate-resources files`: the files a config names exist.
#pragma once

#include "host/config/config.hpp"

namespace imgrecipe::config {

// Checks, for every config of the chain, relative to its directory: sources of
// additionalFiles (os, iso, pxe) and additionalDirs, password files
// (plain-text-file, hashed-file), sshPublicKeyPaths, script paths, and that
// package-list files exist and parse. Throws Error(ErrorKind::Config) listing
// every problem as "<file>:<line>:<column>: <field.path>: <message>".
void check_resource_files(const ConfigChain& chain);

}  // namespace imgrecipe::config
