#include "host/system/fault.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "host/system/disk_space.hpp"
#include "host/system/error.hpp"
#include "host/system/log.hpp"

namespace imgrecipe::fault {
namespace {

enum class Mode { Off, Count, Fail };

struct State {
  Mode mode = Mode::Off;
  std::uint64_t fail_at = 0;
  std::uint64_t seen = 0;
  pid_t owner = 0;  // a forked child must not report the parent's count
};
State& state();

// Mount points in this process's namespace and loop devices whose backing
// file is at or below `dir`.
std::vector<std::string> left_behind(const std::string& dir) {
  std::vector<std::string> out;
  auto under = [&](const std::string& p) { return p == dir || p.starts_with(dir + "/"); };
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, raw;
    fields >> id >> parent >> devno >> root >> raw;
    std::string mp;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 3 < raw.size()) {
        mp += static_cast<char>(std::stoi(raw.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        mp += raw[i];
      }
    }
    if (under(mp)) out.push_back("mount " + mp);
  }
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/block", ec)) {
    std::string name = e.path().filename().string();
    if (!name.starts_with("loop")) continue;
    std::ifstream in(e.path() / "loop" / "backing_file");
    std::string file;
    if (std::getline(in, file) && under(file.substr(0, file.rfind(" (deleted)"))))
      out.push_back(fmt::format("/dev/{} ({})", name, file));
  }
  return out;
}

void at_exit() {
  const State& s = state();
  if (::getpid() != s.owner) return;
  if (s.mode == Mode::Count)
    std::fprintf(stderr, "imgrecipe: fault injection: %llu host operations\n", static_cast<unsigned long long>(s.seen));
  const std::string& dir = space::build_dir();
  if (dir.empty()) return;
  // A loop device the kernel still holds (a just-exited command's mount
  // namespace going away) clears itself (autoclear) moments later.
  auto left = left_behind(dir);
  for (int i = 0; i < 40 && !left.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    left = left_behind(dir);
  }
  for (const auto& what : left) std::fprintf(stderr, "imgrecipe: fault injection: left behind: %s\n", what.c_str());
}

State& state() {
  static State s = [] {
    State st;
    const char* v = std::getenv("IMGRECIPE_FAULT_INJECT");
    if (v == nullptr || *v == '\0') return st;
    std::string_view text(v);
    if (text == "count") {
      st.mode = Mode::Count;
    } else {
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), st.fail_at);
      if (ec != std::errc() || p != text.data() + text.size() || st.fail_at == 0) {
        log::warn("IMGRECIPE_FAULT_INJECT={}: expected a positive number or 'count'; fault injection is off", text);
        return st;
      }
      st.mode = Mode::Fail;
    }
    st.owner = ::getpid();
    (void)space::build_dir();  // constructed first, so still alive in at_exit
    std::atexit(at_exit);
    return st;
  }();
  return s;
}

}  // namespace

void point(std::string_view op, std::string_view target) {
  State& s = state();
  if (s.mode == Mode::Off) return;
  ++s.seen;
  log::debug("host operation {}: {} {}", s.seen, op, target);
  if (s.mode != Mode::Fail || s.seen != s.fail_at) return;
  Error e(ErrorKind::System, fmt::format("injected fault at host operation {} ({} {})", s.seen, op, target));
  e.op = std::string(op);
  e.target = std::string(target);
  // No errno: no handler may take it for a specific condition (EIO reads as
  // a corrupt filesystem when mounting) and reword it.
  throw e;
}

std::uint64_t count() { return state().seen; }

}  // namespace imgrecipe::fault
