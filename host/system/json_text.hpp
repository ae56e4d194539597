// JSON string escaping for what imgrecipe writes as JSON (log lines, step
// times): quotes, backslashes and control characters.
#pragma once

#include <string>
#include <string_view>

namespace imgrecipe {

// The text of a JSON string literal without its quotes.
std::string json_escape(std::string_view s);

}  // namespace imgrecipe
