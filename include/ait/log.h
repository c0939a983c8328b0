// Minimal leveled logging to stderr, with the original's level names.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string_view>

namespace ait {

enum class LogLevel { kDebug = 10, kInfo = 20, kWarning = 30, kError = 40, kCritical = 50 };

// Parses debug/info/warning/warn/error/fatal/critical/notset (any case).
std::optional<LogLevel> ParseLogLevel(std::string_view name);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, std::string_view message);

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (LogEnabled(level)) LogLine(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace ait
