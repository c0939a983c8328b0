// Small text helpers.
#include "ait/text.h"

namespace ait {

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  return out;
}

std::string Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> SplitCommaList(const std::vector<std::string>& raw) {
  std::vector<std::string> out;
  for (const std::string& item : raw) {
    for (size_t start = 0; start <= item.size();) {
      size_t comma = item.find(',', start);
      if (comma == std::string::npos) comma = item.size();
      std::string piece = Trim(std::string_view(item).substr(start, comma - start));
      if (!piece.empty()) out.push_back(std::move(piece));
      start = comma + 1;
    }
  }
  return out;
}

}  // namespace ait
