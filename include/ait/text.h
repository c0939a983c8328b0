// Small text helpers shared by the readers of names and params.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ait {

// `s` with ASCII letters lower-cased (other bytes unchanged).
std::string AsciiLower(std::string_view s);
// `s` without leading and trailing spaces, tabs and line breaks.
std::string Trim(std::string_view s);
// The comma-separated items of every string of `raw`, trimmed, empty ones left out:
// {"a, b", "c"} -> {"a", "b", "c"}.
std::vector<std::string> SplitCommaList(const std::vector<std::string>& raw);

}  // namespace ait
