#include "host/system/signals.hpp"

#include <csignal>
#include <cstring>

#include <fmt/format.h>

#include "host/system/error.hpp"

namespace imgrecipe::signals {
namespace {

volatile sig_atomic_t g_signal = 0;
volatile sig_atomic_t g_child_pgid = 0;

void handler(int sig) {
  if (g_signal == 0) g_signal = sig;
  pid_t pgid = g_child_pgid;
  if (pgid > 0) ::kill(-pgid, SIGTERM);
}

}  // namespace

void install() {
  g_child_pgid = 0;  // a forked process has no child of its parent's to forward to
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR so we notice
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool interrupted() { return g_signal != 0; }
int received() { return g_signal; }

void check() {
  if (g_signal != 0) {
    throw Error(ErrorKind::Interrupted, fmt::format("interrupted by signal {} ({})", static_cast<int>(g_signal),
                                                    sigabbrev_np(g_signal) ? sigabbrev_np(g_signal) : "?"));
  }
}

void set_child_group(pid_t pgid) { g_child_pgid = pgid; }
void reset() { g_signal = 0; }

}  // namespace imgrecipe::signals
