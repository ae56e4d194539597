// The one-line summary that ends a successful build, convert or run.
#pragma once

#include <string>
#include <vector>

#include "lua/runtime.hpp"

namespace imgrecipe::cli {

// "done: OUT (qcow2, 1.2 GiB) in 34.5 s" for the last output written (a
// pxe-dir is measured as its whole tree); "done in N s (no output written)".
std::string summary_line(const std::vector<lua::RecipeOutput>& outputs, double seconds);

}  // namespace imgrecipe::cli
