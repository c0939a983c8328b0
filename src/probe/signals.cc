#include "probe/signals.h"

#include <signal.h>
#include <time.h>

#include <cerrno>

namespace ait::probe {

namespace {

static_assert(std::atomic<uint64_t>::is_always_lock_free, "the signal handler polls a lock-free counter");

std::atomic<const std::atomic<uint64_t>*> g_pending{nullptr};
std::atomic<int64_t> g_max_wait_ms{10000};

void WaitThenReraise(int sig) {
  const int saved_errno = errno;
  const std::atomic<uint64_t>* pending = g_pending.load();
  const int64_t max_polls = g_max_wait_ms.load() / 10;
  for (int64_t i = 0; pending != nullptr && pending->load() != 0 && i < max_polls; ++i) {
    timespec ts{0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  // SA_RESETHAND put the default action back when this handler was entered, and SA_NODEFER
  // left `sig` unblocked: raising it now ends the process with the usual status.
  raise(sig);
  errno = saved_errno;
}

}  // namespace

void InstallFlushOnSignal(const std::atomic<uint64_t>* pending, int64_t max_wait_ms) {
  g_max_wait_ms.store(max_wait_ms);
  g_pending.store(pending);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) != 0) continue;
    if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) continue;  // the host's choice, or ours
    struct sigaction sa {};
    sa.sa_handler = WaitThenReraise;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_RESTART;
    sigaction(sig, &sa, nullptr);
  }
}

}  // namespace ait::probe
