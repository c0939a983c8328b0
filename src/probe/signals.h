// Flush on fatal signals: a process stopped with SIGTERM, SIGINT, SIGHUP or SIGQUIT still
// writes the tensors it had queued, as it would at exit(), then ends by that signal.
//
// The handler itself never waits. A handler that waited for the writer would block in
// whatever thread the signal interrupted, and that thread may hold a lock the writer needs
// (malloc's arena lock, above all): the writer then stalls until the wait gives up. So the
// handler only records the signal and returns; the writer thread notices (within ~50 ms),
// writes what is queued (for at most 10 s, checked between files), and raises the signal
// again with the default action from its own thread. Until then the host runs on; new
// tensors it hands over are dropped.
#pragma once

#include <atomic>
#include <cstdint>

namespace ait::probe {

// For each of SIGTERM, SIGINT, SIGHUP and SIGQUIT whose disposition is still the default
// (the host installed no handler and does not ignore it), installs the handler: if
// `*pending` (jobs queued or being written) is 0 it raises the signal again at once with the
// default action; otherwise it records the signal for the writer (TerminationSignal) and
// returns. The handler makes only async-signal-safe calls; SA_RESETHAND makes a second
// signal act at once. Idempotent.
void InstallFlushOnSignal(const std::atomic<uint64_t>* pending);

// The signal the handler recorded, 0 if none.
int TerminationSignal();

// Restores the default action of `sig`, unblocks it in the calling thread and raises it:
// the process ends as the signal would have ended it.
[[noreturn]] void ReraiseTermination(int sig);

}  // namespace ait::probe
