// Flush on fatal signals: a process stopped with SIGTERM, SIGINT, SIGHUP or SIGQUIT still
// writes the tensors it had queued, as it would at exit().
#pragma once

#include <atomic>
#include <cstdint>

namespace ait::probe {

// For each of SIGTERM, SIGINT, SIGHUP and SIGQUIT whose disposition is still the default
// (the host installed no handler and does not ignore it), installs a handler that polls
// `pending` with nanosleep until it reaches 0, for at most `max_wait_ms`, then restores the
// default action and raises the signal again, so the process ends as it would have. Only
// async-signal-safe calls are made in the handler. Idempotent.
void InstallFlushOnSignal(const std::atomic<uint64_t>* pending, int64_t max_wait_ms = 10000);

}  // namespace ait::probe
