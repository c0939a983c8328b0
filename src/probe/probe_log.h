// The probe's two message channels. Log lines go to stdout as the original's do
// (`[LEVEL] [file:line][function] message`, shown when level >= ATB_AIT_LOG_LEVEL).
// Problems with the outputs (a folder that cannot be made, a full disk, a path the host
// passed that would leave the output root) go to stderr once per kind: a dump of thousands
// of tensors to a full disk says so once, not thousands of times.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace ait::probe {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kFatal = 4, kCritical = 5 };

class Logger {
 public:
  explicit Logger(int64_t threshold) : threshold_(threshold) {}
  bool Enabled(LogLevel level) const { return static_cast<int64_t>(level) >= threshold_; }
  // One write(2) per line, so lines from several threads never interleave.
  void Log(LogLevel level, const char* file, int line, const char* function, const std::string& message) const;

 private:
  int64_t threshold_;
};

#define AIT_PROBE_LOG(logger, level, message)                                              \
  do {                                                                                     \
    if ((logger).Enabled(level)) (logger).Log(level, __FILE__, __LINE__, __func__, message); \
  } while (0)

enum class ErrorKind {
  kCreateDir,    // mkdir failed
  kOpen,         // a file could not be created or opened
  kWrite,        // write/close failed (ENOSPC, EIO, ...)
  kRename,       // the finished temporary file could not be renamed into place
  kLowSpace,     // less free space than the original's threshold: tensor skipped
  kUnsafeName,   // a host path/name that would leave the output root, or is not a name
  kBadValue,     // a header value with a newline or '=', a null data pointer, ...
  kOutOfMemory,  // no memory for the copy of a tensor
  kCount
};

class ErrorReporter {
 public:
  ErrorReporter() = default;
  ErrorReporter(const ErrorReporter&) = delete;
  ErrorReporter& operator=(const ErrorReporter&) = delete;
  ~ErrorReporter();

  // Writes "ait_probe: <message>" to stderr the first time `kind` is reported, and keeps that
  // message; later reports of the same kind are only counted. Thread-safe; never throws.
  void Report(ErrorKind kind, const std::string& message);
  uint64_t count(ErrorKind kind) const { return counts_[static_cast<int>(kind)].load(); }

  // What this process lost, for `ait llm dump`'s summary (probe_env::kLostOutputsFile): one
  // line per kind of problem that cost outputs and was reported, "{count}\t{what was
  // lost}\t{its first message}\n" (e.g. "12\ttensors were not written\tonly 900 MiB free
  // under ..."); empty when nothing was lost. Problems with what the host passed (unsafe
  // names, bad values) are not losses of the dump's and stay on stderr only.
  std::string LostOutputs() const;

  // In a forked child: forgets the parent's reports, which the parent reports itself.
  void ForgetAfterFork();

 private:
  std::atomic<uint64_t> counts_[static_cast<int>(ErrorKind::kCount)] = {};
  // Each kind's first message, set once by the report that counted first (never locked, so
  // fork and the writer thread need no care).
  std::atomic<std::string*> first_[static_cast<int>(ErrorKind::kCount)] = {};
};

// strerror(err), thread-safe.
std::string ErrnoText(int err);

}  // namespace ait::probe
