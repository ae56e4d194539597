#include "host/system/fault.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

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

State& state() {
  static State s = [] {
    State st;
    const char* v = std::getenv("IMGRECIPE_FAULT_INJECT");
    if (v == nullptr || *v == '\0') return st;
    st.owner = ::getpid();
    if (std::strcmp(v, "count") == 0) {
      st.mode = Mode::Count;
      std::atexit([] {
        const State& s = state();
        if (::getpid() == s.owner) std::fprintf(stderr, "imgrecipe: fault injection: %llu host operations\n",
                                                static_cast<unsigned long long>(s.seen));
      });
      return st;
    }
    std::string_view text(v);
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), st.fail_at);
    if (ec != std::errc() || p != text.data() + text.size() || st.fail_at == 0) {
      log::warn("IMGRECIPE_FAULT_INJECT={}: expected a positive number or 'count'; fault injection is off", text);
      return st;
    }
    st.mode = Mode::Fail;
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
