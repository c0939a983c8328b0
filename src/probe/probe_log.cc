#include "probe/probe_log.h"

#include <unistd.h>

#include <cstring>
#include <string>

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

// What each report of `kind` cost the dump, or nullptr for the kinds that are not a loss of
// the dump's own (what the host passed was unusable).
const char* LostWhat(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kLowSpace: return "tensors were not written";  // one report per tensor skipped
    case ErrorKind::kOutOfMemory: return "tensors or tiling files were not written";
    case ErrorKind::kCreateDir:
    case ErrorKind::kOpen:
    case ErrorKind::kWrite:
    case ErrorKind::kRename: return "file writes failed";
    case ErrorKind::kUnsafeName:
    case ErrorKind::kBadValue:
    case ErrorKind::kCount: return nullptr;
  }
  return nullptr;
}

// `text` on one line (a tab or line break would split the record).
std::string OneLine(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return text;
}

}  // namespace

void Logger::Log(LogLevel level, const char* file, int line, const char* function, const std::string& message) const {
  const char* base = std::strrchr(file, '/');
  WriteFd(STDOUT_FILENO, std::string("[") + LevelName(level) + "] [" + (base ? base + 1 : file) + ":" +
                             std::to_string(line) + "][" + function + "] " + message + "\n");
}

ErrorReporter::~ErrorReporter() {
  for (auto& first : first_) delete first.load();
}

void ErrorReporter::Report(ErrorKind kind, const std::string& message) {
  if (counts_[static_cast<int>(kind)].fetch_add(1) != 0) return;
  try {
    delete first_[static_cast<int>(kind)].exchange(new std::string(message));
    WriteFd(STDERR_FILENO, "ait_probe: " + message + " (further problems of this kind are not reported)\n");
  } catch (...) {  // no memory for the message: the count still tells
  }
}

std::string ErrorReporter::LostOutputs() const {
  std::string lines;
  for (int k = 0; k < static_cast<int>(ErrorKind::kCount); ++k) {
    const char* what = LostWhat(static_cast<ErrorKind>(k));
    const uint64_t n = counts_[k].load();
    if (what == nullptr || n == 0) continue;
    const std::string* first = first_[k].load();
    lines += std::to_string(n) + "\t" + what + "\t" + (first ? OneLine(*first) : std::string("no details")) + "\n";
  }
  return lines;
}

void ErrorReporter::ForgetAfterFork() {
  for (auto& count : counts_) count = 0;
  for (auto& first : first_) delete first.exchange(nullptr);
}

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r: returns the message, which may or may not be in buf.
  return strerror_r(err, buf, sizeof buf);
}

}  // namespace ait::probe
