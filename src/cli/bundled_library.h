// Where `ait` finds the libraries that come with it (the ATB probe, the Python metrics
// plugin): relative to the program itself, so a build tree, a `cmake --install` prefix and a
// pip-installed wheel all work, and none looks into another.
#pragma once

#include <filesystem>
#include <string>

namespace ait::cli {

// FILE_NAME in the library folder beside this program: AIT_LIBDIR_FROM_BINDIR from the
// program's own folder (set by cmake/install.cmake: ../lib, ../lib/<multiarch>), else ../lib
// (the build tree). Returns the first that exists, else the first tried, for the caller's
// error message.
std::filesystem::path BundledLibrary(const std::string& file_name);

}  // namespace ait::cli
