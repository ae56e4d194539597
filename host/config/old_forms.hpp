// Older spellings of today's keys that ALIC's own documentation still shows
// (its ISO page): `additionalFiles` as a map of source -> destination and
// `extraCommandLine` as one string. ALIC's parser no longer takes them;
// imgrecipe rewrites them into today's form once, at load, wherever the schema
// has such a key (os, iso, pxe), keeping every position, so typing, rules,
// merged chains and recipes only ever see today's form. Each one rewritten
// yields a note that shows the replacement YAML.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/config/legacy.hpp"
#include "host/config/problems.hpp"
#include "host/config/schema.hpp"
#include "host/config/yaml_reader.hpp"

namespace imgrecipe::config {

// Rewrites, in place, the old forms found in `root` where `type` expects
// today's form. Shapes that are neither form are left for typing to report;
// what only the old form can get wrong (an empty string, a bad destination
// value, an unclosed quote) goes to `problems`.
void translate_old_forms(RawNode& root, const schema::Type& type, Problems& problems, std::vector<LegacyNote>& notes);

// The kernel arguments of an old single-string command line. ALIC wrote that
// string into grub.cfg as is, so it is split into words as GRUB reads them:
// blanks separate words, except inside '...' or "..." or after a backslash.
// A word is given as GRUB reads it (quotes and escapes removed) unless that
// value holds a blank or a double quote: then it is kept as written
// (`dyndbg="file a.c +p"`), which gives GRUB the same word. On an unclosed
// quote or a trailing backslash, sets `error` and returns nothing.
std::optional<std::vector<std::string>> kernel_words(std::string_view text, std::string& error);

}  // namespace imgrecipe::config
