// Time spent in each build step, for ALIC's --timestamp-file: every change
// of the log's current step closes one segment; write() saves them as JSON.
#pragma once

#include <string>

namespace imgrecipe::step_times {

// Starts recording (nothing is recorded unless this is called).
void enable();
// The current step is now `name` ("" = no step). Called by log::set_step.
void mark(const std::string& name);
// Writes `[{"step": NAME, "start": RFC3339, "seconds": S}, ...]` (one entry
// per consecutive stretch of a step, in order) to `path`, atomically.
void write(const std::string& path);

}  // namespace imgrecipe::step_times
