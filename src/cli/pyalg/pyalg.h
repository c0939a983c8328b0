// The interface between `ait` and its Python plugin libait_pyalg.so (ait_pyalg.cc), which
// `ait llm compare` loads with dlopen only when -alg/--custom-algorithms is given: the plugin
// links libpython, `ait` does not, so a compare without -alg starts as fast as before.
#pragma once

#include <string>
#include <vector>

#include "ait/compare_pair.h"

// The plugin's one entry point (C linkage, found with dlsym).
inline constexpr const char* kPyAlgEntry = "ait_pyalg_load";

// Checks every spec ("FILE.py:FUNC", FORMATS.md 4.4), starts the embedded interpreter (Debian's
// python3, the venv of VIRTUAL_ENV on sys.path), imports the functions and appends one
// CustomMetric per spec to `metrics`, named after the function. On return the GIL is
// released: the metrics take it when called, from any thread. Returns 0, or 2 for a spec
// that breaks the rules, 1 when Python cannot start; `error` then says why.
using PyAlgLoadFn = int (*)(const std::vector<std::string>* specs, std::vector<ait::CustomMetric>* metrics,
                            std::string* error);
