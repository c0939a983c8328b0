#include "probe/signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace ait::probe {

namespace {

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the signal handler reads and writes lock-free atomics only");

std::atomic<const std::atomic<uint64_t>*> g_pending{nullptr};
std::atomic<int> g_signal{0};

void OnFatalSignal(int sig) {
  const int saved_errno = errno;
  const std::atomic<uint64_t>* pending = g_pending.load();
  if (pending != nullptr && pending->load() != 0) {
    g_signal.store(sig);  // the writer finishes the queue, then raises `sig` again
    errno = saved_errno;
    return;
  }
  // Nothing queued. SA_RESETHAND restored the default action on entry and SA_NODEFER left
  // `sig` unblocked: raising it ends the process now.
  raise(sig);
  errno = saved_errno;
}

}  // namespace

void InstallFlushOnSignal(const std::atomic<uint64_t>* pending) {
  g_pending.store(pending);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) != 0) continue;
    if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) continue;  // the host's choice, or ours
    struct sigaction sa {};
    sa.sa_handler = OnFatalSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_RESTART;
    sigaction(sig, &sa, nullptr);
  }
}

int TerminationSignal() { return g_signal.load(); }

void ReraiseTermination(int sig) {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  _exit(128 + sig);  // not reached unless the signal's default action is to go on
}

}  // namespace ait::probe
