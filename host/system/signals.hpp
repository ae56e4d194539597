// SIGINT/SIGTERM/SIGHUP become a flag that long operations poll, so the
// normal unwinding path (and thus teardown) runs instead of dying mid-step.
#pragma once

#include <sys/types.h>

namespace imgrecipe::signals {

void install();
bool interrupted();
int received();  // the signal number, 0 if none
// Throws ErrorKind::Interrupted if a signal was received.
void check();
// The process group of the child currently running; the handler forwards the
// signal to it so the child stops promptly. 0 = none.
void set_child_group(pid_t pgid);
// For tests: forget a received signal.
void reset();

}  // namespace imgrecipe::signals
