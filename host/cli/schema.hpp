// `imgrecipe schema`: prints the JSON Schema of the YAML config.
#pragma once

namespace imgrecipe::cli {

int cmd_schema();

}  // namespace imgrecipe::cli
