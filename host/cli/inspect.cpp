#include "host/cli/inspect.hpp"

namespace imgrecipe::cli {
int cmd_inspect(const std::vector<std::string>&, bool, const std::string&) { return 1; }
}  // namespace imgrecipe::cli
