// Text for messages: escaping and excerpts of bytes that came from files (ait/error.h).
#include "ait/error.h"

namespace ait {
namespace {

// Length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 when it does not start with one.
size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len || byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i)
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  return len;
}

}  // namespace

std::string PrintableText(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    // C1 controls (U+0080..U+009F, lead byte 0xC2) are escaped as the bytes they are: some
    // terminals act on them as they do on ESC sequences.
    const size_t len = c >= 0x80 ? Utf8SequenceLength(bytes.substr(i)) : 0;
    if (len > 0 && !(c == 0xC2 && static_cast<unsigned char>(bytes[i + 1]) < 0xA0)) {
      out.append(bytes.substr(i, len));
      i += len;
      continue;
    }
    const size_t escaped = len > 0 ? len : 1;
    for (size_t k = 0; k < escaped; ++k) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(bytes[i + k]));
    i += escaped;
  }
  return out;
}

bool IsUtf8(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(bytes.substr(i));
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string Excerpt(std::string_view bytes, size_t max) {
  if (bytes.size() <= max) return std::string(bytes);
  size_t n = max;
  // Back off to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx).
  for (size_t k = 0; k < 3 && n > 0 && (static_cast<unsigned char>(bytes[n]) & 0xC0) == 0x80; ++k) --n;
  return std::string(bytes.substr(0, n)) + "...";
}

}  // namespace ait
