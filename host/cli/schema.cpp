#include "host/cli/schema.hpp"

#include <cstdio>

#include "host/config/json_schema.hpp"

namespace imgrecipe::cli {

int cmd_schema() {
  const std::string text = config::json_schema();
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace imgrecipe::cli
