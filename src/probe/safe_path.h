// Checks on names that come from the host process before they become paths: every output
// must stay inside the output root whatever the host passes.
#pragma once

#include <string>

namespace ait::probe {

// A relative path whose every component is a plain name: not empty, not absolute, no "."
// or ".." component, no empty component ("a//b", trailing '/'), no NUL or other control
// character.
bool IsSafeRelativePath(const std::string& path);

// A single plain path component (the rules above, and no '/').
bool IsSafeFileName(const std::string& name);

}  // namespace ait::probe
