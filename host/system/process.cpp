#include "host/system/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "host/system/error.hpp"
#include "host/system/fault.hpp"
#include "host/system/signals.hpp"

extern char** environ;

namespace imgrecipe {
namespace {

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe", "");
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() { close_both(); }
  void close_r() { if (r >= 0) ::close(r); r = -1; }
  void close_w() { if (w >= 0) ::close(w); w = -1; }
  void close_both() { close_r(); close_w(); }
};

// Splits a byte stream into lines.
struct LineSink {
  std::string partial;
  std::string step;
  log::Level level;
  std::deque<std::string>* tail;
  std::size_t tail_max;
  std::string* capture = nullptr;  // capture raw bytes instead of lines

  void feed(const char* data, std::size_t n) {
    if (capture != nullptr) {
      capture->append(data, n);
      return;
    }
    partial.append(data, n);
    std::size_t pos;
    while ((pos = partial.find('\n')) != std::string::npos) {
      line(partial.substr(0, pos));
      partial.erase(0, pos + 1);
    }
  }
  void finish() {
    if (!partial.empty()) line(partial);
    partial.clear();
  }
  void line(std::string l) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    log::command_output(level, step, l);
    tail->push_back(std::move(l));
    while (tail->size() > tail_max) tail->pop_front();
  }
};

std::vector<char*> to_cargv(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      _exit(127);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

std::string find_program(const std::string& program, const std::string& more_dirs) {
  const char* env = std::getenv("PATH");
  std::string path = env != nullptr ? env : "/usr/sbin:/usr/bin:/sbin:/bin";
  if (!more_dirs.empty()) path += ":" + more_dirs;
  for (size_t i = 0; i <= path.size();) {
    size_t j = std::min(path.find(':', i), path.size());
    std::string candidate = path.substr(i, j - i) + "/" + program;
    if (j > i && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    i = j + 1;
  }
  return "";
}

std::string quote_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?[]{}()<>|&;#~") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) {
        if (c == '\'') out += "'\\''";
        else out += c;
      }
      out += '\'';
    }
  }
  return out;
}

RunResult run(const std::vector<std::string>& argv_in, const RunOptions& opts) {
  if (argv_in.empty()) throw_usage("run: empty command");
  fault::point("run", argv_in[0]);
  signals::check();
  std::string step = opts.step.empty() ? log::step() : opts.step;
  if (opts.secret_args) log::debug("running {} (arguments hidden)", argv_in[0]);
  else log::debug("running {}", quote_command(argv_in));

  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env;
  if (opts.env) {
    env = *opts.env;
  } else {
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "LC_ALL=", 7) != 0) env.emplace_back(*e);
    }
    env.emplace_back("LC_ALL=C");
  }
  auto cargv = to_cargv(argv);
  auto cenv = to_cargv(env);

  Pipe out;                   // stdout+stderr, or stderr only when capturing
  std::optional<Pipe> cap;    // stdout when capturing
  std::optional<Pipe> in;
  if (opts.capture_stdout) cap.emplace();
  if (opts.stdin_data) in.emplace();

  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw_errno("fork", argv[0]);
  if (pid == 0) {
    // Child. Single-threaded parent, so running C++ here is safe.
    // Dies with imgrecipe, even on SIGKILL; if imgrecipe died before the
    // prctl took effect, we have been reparented already.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in) dup2(in->r, 0);
    else if (devnull >= 0) dup2(devnull, 0);
    dup2(opts.capture_stdout ? cap->w : out.w, 1);
    dup2(out.w, 2);
    try {
      if (opts.child_setup) opts.child_setup();
      if (!opts.cwd.empty() && chdir(opts.cwd.c_str()) != 0) throw_errno("chdir", opts.cwd);
      // No descriptor of ours (a directory on the host, a loop device, a
      // lock) may reach the command, whatever flags it was opened with.
      if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) throw_errno("close_range", "");
    } catch (const std::exception& e) {
      std::string msg = std::string("imgrecipe: ") + e.what() + "\n";
      write_all(2, msg.data(), msg.size());
      _exit(127);
    }
    execvpe(cargv[0], cargv.data(), cenv.data());
    std::string msg = std::string("imgrecipe: cannot run ") + argv[0] + ": " + std::strerror(errno) + "\n";
    write_all(2, msg.data(), msg.size());
    _exit(127);
  }

  setpgid(pid, pid);  // also done in the child; whichever runs first wins
  // Our SIGINT/SIGTERM handler forwards to this group until the child is
  // reaped. reap() kills what is left of the group and stops the
  // forwarding before the leader is reaped: while it is unreaped its pid
  // (the group's id) cannot have been handed to anyone else. On an error
  // the destructor does the same to a child that may still run.
  struct ChildGroup {
    pid_t pid;
    bool reaped = false;
    explicit ChildGroup(pid_t p) : pid(p) { signals::set_child_group(p); }
    ~ChildGroup() {
      if (!reaped) reap();
    }
    // The wait status, or -1 with errno set.
    int reap() noexcept {
      ::kill(-pid, SIGKILL);
      signals::set_child_group(0);
      reaped = true;
      int status = 0;
      while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
      }
      return status;
    }
    ChildGroup(const ChildGroup&) = delete;
    ChildGroup& operator=(const ChildGroup&) = delete;
  } child_group(pid);
  out.close_w();
  if (cap) cap->close_w();
  if (in) {
    in->close_r();
    // Small payloads (scripts, passwords): a blocking write is fine.
    const std::string& data = *opts.stdin_data;
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t w = ::write(in->w, data.data() + off, data.size() - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        break;  // child closed stdin
      }
      off += static_cast<std::size_t>(w);
    }
    in->close_w();
  }

  RunResult result;
  LineSink sink{{}, step, opts.output_level, &result.tail, opts.tail_lines};
  LineSink cap_sink{{}, step, opts.output_level, &result.tail, opts.tail_lines};
  cap_sink.capture = &result.out;

  bool kill_sent = false;
  auto interrupted_at = std::chrono::steady_clock::time_point{};
  char buf[65536];
  int open_fds = 1 + (cap ? 1 : 0);
  while (open_fds > 0) {
    pollfd fds[2];
    int n = 0;
    if (out.r >= 0) fds[n++] = {out.r, POLLIN, 0};
    if (cap && cap->r >= 0) fds[n++] = {cap->r, POLLIN, 0};
    int rc = poll(fds, static_cast<nfds_t>(n), 200);
    if (signals::interrupted()) {
      auto now = std::chrono::steady_clock::now();
      if (interrupted_at == std::chrono::steady_clock::time_point{}) {
        interrupted_at = now;
        ::kill(-pid, SIGTERM);
      } else if (!kill_sent && now - interrupted_at > std::chrono::seconds(3)) {
        ::kill(-pid, SIGKILL);
        kill_sent = true;
      }
    }
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll", argv[0]);
    }
    for (int i = 0; i < n; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      bool is_cap = cap && fds[i].fd == cap->r;
      if (got <= 0) {
        if (is_cap) cap->close_r();
        else out.close_r();
        --open_fds;
        continue;
      }
      (is_cap ? cap_sink : sink).feed(buf, static_cast<std::size_t>(got));
    }
  }
  sink.finish();

  // The child has exited (not yet reaped); then the rest of its group goes.
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0) {
    if (errno != EINTR) throw_errno("waitid", argv[0]);
  }
  const int status = child_group.reap();
  if (status < 0) throw_errno("waitpid", argv[0]);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  signals::check();
  return result;
}

Error command_error(const std::vector<std::string>& argv, const RunResult& r, const std::string& step, bool secret,
                    const std::string& where) {
  std::string shown = secret ? argv[0] + " (arguments hidden)" : quote_command(argv);
  std::string how = r.term_signal != 0 ? fmt::format("was killed by signal {}", r.term_signal)
                                       : fmt::format("exited with code {}", r.exit_code);
  Error e(ErrorKind::Command, fmt::format("{}command `{}`{} {}", step.empty() ? "" : "step '" + step + "': ", shown,
                                          where, how));
  e.op = "run";
  e.target = argv[0];
  e.argv = secret ? std::vector<std::string>{argv[0]} : argv;
  e.exit_code = r.exit_code;
  e.output_tail.assign(r.tail.begin(), r.tail.end());
  return e;
}

RunResult run_checked(const std::vector<std::string>& argv, const RunOptions& opts) {
  RunResult r = run(argv, opts);
  if (r.exit_code == 0) return r;
  throw command_error(argv, r, opts.step.empty() ? log::step() : opts.step, opts.secret_args);
}

std::string capture(const std::vector<std::string>& argv, const RunOptions& opts) {
  RunOptions o = opts;
  o.capture_stdout = true;
  return run_checked(argv, o).out;
}

}  // namespace imgrecipe
