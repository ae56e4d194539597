// inspect's output: the human report and the JSON document (field names
// documented in docs/inspect.md and kept stable).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "host/inspect/disk.hpp"
#include "host/inspect/os.hpp"
#include "host/inspect/source.hpp"

namespace imgrecipe::inspect {

struct Report {
  std::string path;
  Source source;
  DiskInfo disk;
  std::optional<OsInfo> os;
  std::vector<std::string> notes;
};

std::string to_json(const Report& r);
std::string to_text(const Report& r);

}  // namespace imgrecipe::inspect
