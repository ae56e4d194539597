#include "host/system/step_times.hpp"

#include <cerrno>
#include <chrono>
#include <ctime>
#include <vector>

#include <fmt/format.h>

#include <cstdio>

#include "host/system/error.hpp"
#include "host/system/json_text.hpp"

namespace imgrecipe::step_times {
namespace {

using Clock = std::chrono::system_clock;

struct Segment {
  std::string step;
  Clock::time_point start, end;
};

bool g_enabled = false;
std::vector<Segment> g_done;
std::string g_current;
Clock::time_point g_since;

std::string rfc3339(Clock::time_point t) {
  std::time_t s = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

void enable() {
  g_enabled = true;
  g_since = Clock::now();
}

void mark(const std::string& name) {
  if (!g_enabled || name == g_current) return;
  auto now = Clock::now();
  if (!g_current.empty()) g_done.push_back({g_current, g_since, now});
  g_current = name;
  g_since = now;
}

void write(const std::string& path) {
  if (!g_enabled) return;
  mark("");
  std::string out = "[\n";
  for (size_t i = 0; i < g_done.size(); ++i) {
    const Segment& s = g_done[i];
    double seconds = std::chrono::duration<double>(s.end - s.start).count();
    out += fmt::format("  {{\"step\": {}, \"start\": \"{}\", \"seconds\": {:.3f}}}{}\n", "\"" + json_escape(s.step) + "\"",
                       rfc3339(s.start), seconds, i + 1 < g_done.size() ? "," : "");
  }
  out += "]\n";
  // A temporary beside the file, renamed over it: never a half-written file.
  const std::string tmp = path + ".tmp-imgrecipe";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) throw_errno("write the timestamp file", tmp);
  bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    errno = e;
    throw_errno("write the timestamp file", path);
  }
}

}  // namespace imgrecipe::step_times
