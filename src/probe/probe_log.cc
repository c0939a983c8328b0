#include "probe/probe_log.h"

#include <unistd.h>

#include <cstring>

namespace ait::probe {

namespace {

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kError: return "ERROR";
    case LogLevel::kFatal: return "FATAL";
    case LogLevel::kCritical: return "CRITICAL";
  }
  return "INFO";
}

void WriteFd(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;  // nowhere to report a failure to report
    done += static_cast<size_t>(n);
  }
}

}  // namespace

void Logger::Log(LogLevel level, const char* file, int line, const char* function, const std::string& message) const {
  const char* base = std::strrchr(file, '/');
  WriteFd(STDOUT_FILENO, std::string("[") + LevelName(level) + "] [" + (base ? base + 1 : file) + ":" +
                             std::to_string(line) + "][" + function + "] " + message + "\n");
}

void ErrorReporter::Report(ErrorKind kind, const std::string& message) {
  if (counts_[static_cast<int>(kind)].fetch_add(1) != 0) return;
  WriteFd(STDERR_FILENO, "ait_probe: " + message + " (further problems of this kind are not reported)\n");
}

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r: returns the message, which may or may not be in buf.
  return strerror_r(err, buf, sizeof buf);
}

}  // namespace ait::probe
