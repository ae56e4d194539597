// Typed errors thrown by host primitives. The Lua boundary turns them into
// structured Lua error tables; the CLI prints them. Host code never sees Lua.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace imgrecipe {

enum class ErrorKind {
  Usage,        // bad command line or recipe argument
  Config,       // invalid configuration (file:line:column in the message)
  System,       // a system call failed (errno set)
  Command,      // an external command exited non-zero
  Interrupted,  // SIGINT/SIGTERM received
  Unsupported,  // known feature not implemented yet
  Recipe,       // a recipe raised an error
  Internal,
};

const char* to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

  ErrorKind kind() const { return kind_; }

  // Optional context. `op` is what was being done ("mount", "attach"),
  // `target` what it was done to (a path, a device).
  std::string op;
  std::string target;
  int sys_errno = 0;

  // For ErrorKind::Command.
  std::vector<std::string> argv;
  int exit_code = -1;
  std::vector<std::string> output_tail;

 private:
  ErrorKind kind_;
};

// errno-based failure: "<op> <target>: <strerror>".
[[noreturn]] void throw_system(const std::string& op, const std::string& target, int err);
// Same, using the current errno.
[[noreturn]] void throw_errno(const std::string& op, const std::string& target);
[[noreturn]] void throw_usage(const std::string& message);
[[noreturn]] void throw_unsupported(const std::string& what);

// Renders an error for a terminal: the message, and for a failed command the
// command line, exit code and last lines of its output.
std::string describe(const Error& e);

}  // namespace imgrecipe
