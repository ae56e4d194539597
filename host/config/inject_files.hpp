// inject-files.yaml (alic-reference §1.5, §2.10): the config of the
// `inject-files` subcommand, loaded strictly (unknown keys, wrong kinds and
// missing fields are errors with file:line:column) and checked as ALIC does.
#pragma once

#include <string>

#include "host/config/config.hpp"

namespace imgrecipe::config {

// The typed tree of the file at `path`: {injectFiles = [{partition = {idType,
// id}, destination, source, type}], previewFeatures}. Throws
// Error(ErrorKind::Config) listing every problem, including a missing
// `inject-files` preview feature and a destination that is not absolute.
Node load_inject_files(const std::string& path);

}  // namespace imgrecipe::config
