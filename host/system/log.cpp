#include "host/system/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "host/system/error.hpp"
#include "host/system/json_text.hpp"
#include "host/system/step_times.hpp"

namespace imgrecipe::log {
namespace {

Level g_level = Level::Info;
bool g_json = false;
std::string g_step;
std::FILE* g_file = nullptr;

const char* level_name(Level l) {
  switch (l) {
    case Level::Trace: return "trace";
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
    case Level::Off: return "off";
  }
  return "info";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, ms);
}

void emit(Level l, std::string_view step, std::string_view message, bool from_command) {
  std::string line;
  if (g_json) {
    line = fmt::format(R"({{"time":"{}","level":"{}","step":"{}",{}"msg":"{}"}})", timestamp(), level_name(l),
                       json_escape(step), from_command ? "\"stream\":\"command\"," : "", json_escape(message));
  } else {
    std::string prefix = step.empty() ? "" : fmt::format("[{}] ", step);
    const char* tag = from_command ? "  | " : "";
    if (l >= Level::Warn) line = fmt::format("{}: {}{}{}", level_name(l), prefix, tag, message);
    else line = fmt::format("{}{}{}", prefix, tag, message);
  }
  if (l >= g_level) {
    std::fputs(line.c_str(), stderr);
    std::fputc('\n', stderr);
  }
  if (g_file != nullptr && l >= Level::Debug) {
    std::fprintf(g_file, "%s %s\n", g_json ? "" : timestamp().c_str(), line.c_str());
    std::fflush(g_file);
  }
}

}  // namespace

Level level() { return g_level; }
void set_level(Level l) { g_level = l; }
void set_format_json(bool json) { g_json = json; }

void set_file(const std::string& path) {
  if (g_file != nullptr) std::fclose(g_file);
  g_file = std::fopen(path.c_str(), "ae");
  if (g_file == nullptr) throw_errno("open log file", path);
}

Level parse_level(std::string_view name) {
  if (name == "trace") return Level::Trace;
  if (name == "debug") return Level::Debug;
  if (name == "info") return Level::Info;
  if (name == "warn" || name == "warning") return Level::Warn;
  if (name == "error" || name == "fatal" || name == "panic") return Level::Error;
  throw_usage(fmt::format("unknown log level '{}' (use trace, debug, info, warn, error, fatal or panic)", name));
}

const std::string& step() { return g_step; }
void set_step(std::string name) {
  g_step = std::move(name);
  step_times::mark(g_step);
}

void write(Level l, std::string_view message) { emit(l, g_step, message, false); }

void command_output(Level l, std::string_view step, std::string_view line) { emit(l, step, line, true); }

}  // namespace imgrecipe::log
