// libait_pyalg.so: the user's Python metrics for `ait llm compare -alg` (pyalg.h), through an
// interpreter embedded in the `ait` process. Built in python/CMakeLists.txt, beside the extension.
#include <pybind11/embed.h>

#include <cstdlib>
#include <filesystem>

#include "custom_metric.h"
#include "pyalg.h"

namespace py = pybind11;
using ait::python::AlgorithmSpec;
using ait::python::AlgorithmSpecError;

namespace {

// Debian's interpreter, whose libpython this plugin links (python/CMakeLists.txt): naming it
// makes the embedded Python find /usr/lib/python3.X and Debian's dist-packages (numpy, torch),
// whatever `python3` comes first on PATH.
#ifndef AIT_PYTHON_EXECUTABLE
#define AIT_PYTHON_EXECUTABLE "/usr/bin/python3"
#endif

void StartPython() {
  PyConfig config;
  PyConfig_InitPythonConfig(&config);  // PYTHONPATH and friends are honoured, as by python3
  config.install_signal_handlers = 0;  // Ctrl-C stays ait's
  config.parse_argv = 0;
  PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, AIT_PYTHON_EXECUTABLE);
  if (PyStatus_Exception(status)) {
    PyConfig_Clear(&config);
    throw std::runtime_error("cannot configure Python");
  }
  py::initialize_interpreter(&config, 0, nullptr, false);
  // A virtual environment the user works in (VIRTUAL_ENV, set by its activate script): its
  // site-packages come first, as when its python runs.
  if (const char* venv = std::getenv("VIRTUAL_ENV"); venv && *venv) {
    const std::string site = std::string(venv) + "/lib/python" + std::to_string(PY_MAJOR_VERSION) + "." +
                             std::to_string(PY_MINOR_VERSION) + "/site-packages";
    std::error_code ec;
    if (std::filesystem::is_directory(site, ec)) {
      py::dict scope;
      scope["site_dir"] = site;
      // addsitedir also reads its .pth files; it appends, so what it added moves to the front.
      py::exec(R"(
import site, sys
before = list(sys.path)
site.addsitedir(site_dir)
sys.path[:] = [p for p in sys.path if p not in before] + before
)",
               scope);
    }
  }
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int ait_pyalg_load(const std::vector<std::string>* specs,
                                                                    std::vector<ait::CustomMetric>* metrics,
                                                                    std::string* error) {
  std::vector<AlgorithmSpec> parsed;
  try {
    for (const std::string& spec : *specs) parsed.push_back(ait::python::ParseAlgorithmSpec(spec));
  } catch (const AlgorithmSpecError& e) {
    *error = e.what();
    return 2;
  }
  const bool started = Py_IsInitialized();
  try {
    if (!started) StartPython();
  } catch (const std::exception& e) {
    *error = std::string("cannot start the embedded Python (") + AIT_PYTHON_EXECUTABLE + "): " + e.what();
    return 1;
  }
  int rc = 0;
  {
    py::gil_scoped_acquire gil;
    try {
      for (const AlgorithmSpec& s : parsed)
        metrics->push_back(ait::python::MakeCustomMetric(s.function, ait::python::ImportAlgorithm(s)));
    } catch (const AlgorithmSpecError& e) {
      *error = e.what();
      rc = 2;
    } catch (py::error_already_set& e) {
      *error = ait::python::PythonErrorText(e);
      rc = 1;
    } catch (const std::exception& e) {  // a cast error, a replaced sys.path, no memory
      *error = std::string("cannot load the custom algorithms: ") + e.what();
      rc = 1;
    }
  }
  // The interpreter started holding the GIL in this thread: let the metrics take it from the
  // worker threads. It stays up until the process exits (never finalized: torch and numpy do
  // not like that, and there is nothing to save).
  if (!started) PyEval_SaveThread();
  return rc;
}
