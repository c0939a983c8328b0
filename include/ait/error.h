// Errors travel as ait::Error (an exception carrying a complete, user-facing message:
// which file or argument, what was expected, what was found) inside the library, and
// as Result<T> / Status values at the public boundary where callers want no exceptions.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ait {

// `bytes` as text that is safe to print and to hand to Python: printable ASCII and valid
// UTF-8 characters are kept; control characters (C0, DEL, C1), NUL included, and every byte
// that is not part of a valid UTF-8 sequence become `\xNN` (lower-case hex, as Python's
// backslashreplace). Never shortens the text. The one place messages escape bytes: Error and
// LogLine call it, so text taken from a file may be formatted into a message as it is.
std::string PrintableText(std::string_view bytes);

// Whether `bytes` are valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF).
bool IsUtf8(std::string_view bytes);

// At most `max` bytes of `bytes` for quoting in a message, "..." appended when cut; never
// ends inside a UTF-8 sequence that was whole. Bounds how much of a hostile value a message
// repeats; escaping is PrintableText's job.
std::string Excerpt(std::string_view bytes, size_t max);

// An error whose message is PrintableText of what it was given: a file's bytes in it can
// neither drive the terminal nor cut the message short (what() is a C string).
class Error : public std::runtime_error {
 public:
  explicit Error(std::string_view message) : std::runtime_error(PrintableText(message)) {}
};

// Throws ait::Error("{where}: {formatted reason}").
template <typename... Args>
[[noreturn]] void Fail(std::string_view where, fmt::format_string<Args...> reason, Args&&... args) {
  throw Error(fmt::format("{}: {}", where, fmt::format(reason, std::forward<Args>(args)...)));
}

// An OK value or an error message.
class Status {
 public:
  Status() = default;
  static Status Failure(std::string message) { return Status(std::move(message)); }
  bool ok() const { return !message_.has_value(); }
  const std::string& message() const { return *message_; }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

// A T or an error message. REQUIRES: value() only when ok(), error() only when !ok().
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status failure) : v_(std::move(failure)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& value() const& { return std::get<T>(v_); }
  const std::string& error() const { return std::get<Status>(v_).message(); }

 private:
  std::variant<T, Status> v_;
};

// Runs fn(), turning a thrown ait::Error (or std::bad_alloc) into a failed Result.
template <typename Fn>
auto Capture(Fn&& fn) -> Result<decltype(fn())> {
  try {
    return fn();
  } catch (const Error& e) {
    return Status::Failure(e.what());
  } catch (const std::bad_alloc&) {
    return Status::Failure("out of memory");
  }
}

}  // namespace ait
