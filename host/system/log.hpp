// One logging channel for the whole program. Every line carries the current
// step name so a build log reads as a sequence of steps.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace imgrecipe::log {

enum class Level { Trace = 0, Debug, Info, Warn, Error, Off };

Level level();
void set_level(Level level);
// Parses panic|fatal|error|warn|info|debug|trace (ALIC names); throws Usage.
Level parse_level(std::string_view name);
void set_format_json(bool json);
// Also append every line to this file (no level filtering beyond Debug).
void set_file(const std::string& path);

// The current step, shown on each line. Empty means no step.
const std::string& step();
void set_step(std::string name);

void write(Level level, std::string_view message);
// A line of output from a child process run for `step`.
void command_output(Level level, std::string_view step, std::string_view line);

template <typename... Args>
void trace(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::Trace) write(Level::Trace, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::Debug) write(Level::Debug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::Info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::Warn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::Error, fmt::format(f, std::forward<Args>(args)...));
}

// Sets the step for the lifetime of the guard, restoring the previous one.
class StepGuard {
 public:
  explicit StepGuard(std::string name) : previous_(step()) { set_step(std::move(name)); }
  ~StepGuard() { set_step(std::move(previous_)); }
  StepGuard(const StepGuard&) = delete;
  StepGuard& operator=(const StepGuard&) = delete;

 private:
  std::string previous_;
};

}  // namespace imgrecipe::log
