// BundledLibrary: the libraries beside the `ait` program.
#include "bundled_library.h"

#include "ait/error.h"

#ifndef AIT_LIBDIR_FROM_BINDIR
#define AIT_LIBDIR_FROM_BINDIR "../lib"
#endif

namespace ait::cli {
namespace fs = std::filesystem;

fs::path BundledLibrary(const std::string& file_name) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) Fail("/proc/self/exe", "cannot locate the ait program: {}", ec.message());
  const fs::path installed = (self.parent_path() / AIT_LIBDIR_FROM_BINDIR / file_name).lexically_normal();
  const fs::path build_tree = (self.parent_path() / ".." / "lib" / file_name).lexically_normal();
  for (const fs::path& candidate : {installed, build_tree})
    if (fs::exists(candidate, ec)) return candidate;
  return installed;
}

}  // namespace ait::cli
