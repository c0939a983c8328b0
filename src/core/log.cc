#include "ait/log.h"

#include <atomic>
#include <cstdio>
#include <string>

#include "ait/error.h"

namespace ait {
namespace {
std::atomic<LogLevel> g_level{LogLevel::kInfo};
}

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  std::string n(name);
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n == "debug" || n == "notset") return LogLevel::kDebug;
  if (n == "info") return LogLevel::kInfo;
  if (n == "warning" || n == "warn") return LogLevel::kWarning;
  if (n == "error") return LogLevel::kError;
  if (n == "fatal" || n == "critical") return LogLevel::kCritical;
  return std::nullopt;
}

void SetLogLevel(LogLevel level) { g_level = level; }
bool LogEnabled(LogLevel level) { return level >= g_level.load(); }

void LogLine(LogLevel level, std::string_view message) {
  const char* tag = level >= LogLevel::kError ? "error" : level >= LogLevel::kWarning ? "warning"
                    : level >= LogLevel::kInfo ? "info" : "debug";
  // Each line made printable (PrintableText): a message may quote a file's bytes, and may
  // itself span lines (a pair's table at debug level).
  std::string line = fmt::format("[{}] ", tag);
  for (size_t start = 0;;) {
    const size_t end = message.find('\n', start);
    line += PrintableText(message.substr(start, end == std::string_view::npos ? end : end - start));
    line += '\n';
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace ait
