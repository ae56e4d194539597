// "Did you mean ...?" for misspelt keys.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace imgrecipe::config {

// Case-insensitive edit distance (insertions, deletions, substitutions and
// swaps of adjacent letters each count 1).
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if it is close enough to be a likely typo.
std::optional<std::string> closest(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace imgrecipe::config
