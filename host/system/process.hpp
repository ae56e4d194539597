// Runs external programs: output streamed to the log line by line under the
// step name, the last lines kept for error messages, stopped promptly on
// SIGINT/SIGTERM.
#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "host/system/error.hpp"
#include "host/system/log.hpp"

namespace imgrecipe {

struct RunOptions {
  // Name shown on output lines; defaults to the current step.
  std::string step;
  // The exact environment ("K=V"). Unset: the host environment plus LC_ALL=C.
  std::optional<std::vector<std::string>> env;
  std::string cwd;
  // Runs in the child after fork, before exec. May throw; the message is
  // reported as the command's output and the child exits 127.
  std::function<void()> child_setup;
  // Level at which output lines are logged.
  log::Level output_level = log::Level::Debug;
  // Keep stdout separately in RunResult::out instead of logging it.
  bool capture_stdout = false;
  std::size_t tail_lines = 20;
  // Data written to the child's stdin (otherwise /dev/null).
  std::optional<std::string> stdin_data;
  // Do not log argv at debug level (it contains a secret).
  bool secret_args = false;
};

struct RunResult {
  int exit_code = -1;    // -1 when killed by a signal
  int term_signal = 0;
  std::string out;       // stdout when capture_stdout
  std::deque<std::string> tail;
};

// Runs and returns the result whatever the exit status. Throws on spawn
// failure or interruption.
RunResult run(const std::vector<std::string>& argv, const RunOptions& opts = {});
// Like run(), but a non-zero exit throws ErrorKind::Command naming the
// command, the exit code and the last lines of output.
RunResult run_checked(const std::vector<std::string>& argv, const RunOptions& opts = {});
// Convenience: run_checked with captured stdout, returned.
std::string capture(const std::vector<std::string>& argv, const RunOptions& opts = {});

// The ErrorKind::Command error for a finished command: "step '<step>':
// command `<argv>`<where> exited with code N" with the output tail attached.
// `where` is e.g. " in the image".
Error command_error(const std::vector<std::string>& argv, const RunResult& r, const std::string& step, bool secret,
                    const std::string& where = "");

// "a b 'c d'" for messages.
std::string quote_command(const std::vector<std::string>& argv);

// Full path of `program` in $PATH (unset: the standard directories), then in
// the ':'-separated `more_dirs`; empty if it is not installed.
std::string find_program(const std::string& program, const std::string& more_dirs = "");

}  // namespace imgrecipe
