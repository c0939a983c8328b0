// A progress line for long work, on a terminal only.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>

namespace ait::cli {

// Progress on a terminal: one line, redrawn at most every 100 ms; nothing when piped.
class Progress {
 public:
  explicit Progress(const char* what);
  // Thread-safe.
  void Update(size_t done, size_t total);

 private:
  const char* what_;
  bool enabled_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace ait::cli
