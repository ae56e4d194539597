// Checks of the output path made before a build starts, so a bad output
// fails in a second instead of after the whole customization, and an output
// that would replace the input is refused.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace imgrecipe::image {

// Throws ErrorKind::Usage, naming the path and what is wrong, unless:
// `format` is a known output format (a qemu-img format, cosi or
// baremetal-image); `out` is not one of `inputs` (compared
// as files: device and inode when both exist, so symlinks, hard links and
// `..` spellings are caught; the resolved parent directory plus name
// otherwise); `out` is not a directory; its directory exists and a file can
// be created in it, or its nearest existing ancestor is a directory where
// the missing ones can be created.
void check_output(const std::string& out, std::string_view format, const std::vector<std::string>& inputs);

}  // namespace imgrecipe::image
