// LoadPythonMetrics: dlopen of the Python plugin, only when -alg is given.
#include "python_metrics.h"

#include <dlfcn.h>

#include <filesystem>

#include "args.h"
#include "bundled_library.h"
#include "cli/pyalg/pyalg.h"

namespace ait::cli {
namespace fs = std::filesystem;

PythonMetrics LoadPythonMetrics(const std::vector<std::string>& specs) {
  PythonMetrics out;
  std::error_code ec;
  const fs::path plugin = BundledLibrary("libait_pyalg.so");
  if (!fs::exists(plugin, ec)) {
    out.status = kExitFailure;
    out.error = "this build of ait has no Python support: " + plugin.string() +
                " is missing (it is built with the Python package, AIT_PYTHON=ON)";
    return out;
  }
  // RTLD_GLOBAL: numpy's and torch's extension modules find libpython's symbols through it.
  void* handle = dlopen(plugin.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    out.status = kExitFailure;
    out.error = std::string("cannot load ") + plugin.string() + ": " + dlerror();
    return out;
  }
  auto load = reinterpret_cast<PyAlgLoadFn>(dlsym(handle, kPyAlgEntry));
  if (!load) {
    out.status = kExitFailure;
    out.error = plugin.string() + " has no " + kPyAlgEntry;
    return out;
  }
  // The plugin stays loaded: the metrics' code lives in it.
  const int rc = load(&specs, &out.metrics, &out.error);
  out.status = rc == 0 ? kExitOk : rc == 2 ? kExitUsage : kExitFailure;
  return out;
}

}  // namespace ait::cli
