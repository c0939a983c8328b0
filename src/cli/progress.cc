// The progress line.
#include "progress.h"

#include <unistd.h>

#include <cstdio>

#include "ait/log.h"

namespace ait::cli {

Progress::Progress(const char* what) : what_(what), enabled_(::isatty(STDERR_FILENO) && LogEnabled(LogLevel::kInfo)) {}

void Progress::Update(size_t done, size_t total) {
  if (!enabled_) return;
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (done != total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  std::fprintf(stderr, "\r%s %zu/%zu (%zu%%)", what_, done, total, total ? done * 100 / total : 100);
  if (done == total) std::fputs("\r\033[K", stderr);
}

}  // namespace ait::cli
