// Lexical path helpers with Go's path semantics, which ALIC's rules use.
#pragma once

#include <string>
#include <string_view>

namespace imgrecipe::config {

// Go's path.Clean: collapses "//", "." and "dir/.."; "" -> ".".
std::string clean_path(std::string_view path);

// Go's filepath.IsLocal on Unix: relative, non-empty and not escaping via "..".
bool is_local_path(std::string_view path);

}  // namespace imgrecipe::config
