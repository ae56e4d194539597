// Reading config files from disk, with the error messages every loader shares.
#pragma once

#include <string>

namespace imgrecipe::config {

// The whole file; throws Error(ErrorKind::Config) "<path>: cannot read <what>: <reason>".
std::string read_config_text(const std::string& path, const std::string& what);

}  // namespace imgrecipe::config
