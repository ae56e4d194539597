// `imgrecipe COMMAND --help`: one usage text per subcommand.
#pragma once

#include <string>

namespace imgrecipe::cli {

// The usage text of `command`, or nullptr if it has none. A new subcommand
// adds one row to the table in help.cpp.
const char* command_usage(const std::string& command);

}  // namespace imgrecipe::cli
