// -alg/--custom-algorithms of `ait llm compare`: the user's Python functions as custom
// metrics, through the plugin lib/libait_pyalg.so (src/cli/pyalg/pyalg.h), loaded only here.
#pragma once

#include <string>
#include <vector>

#include "ait/compare_pair.h"

namespace ait::cli {

struct PythonMetrics {
  std::vector<CustomMetric> metrics;  // one per spec, named after its function
  int status = 0;                     // 0, or kExitUsage for a spec that breaks the rules, kExitFailure
  std::string error;                  // why, when status != 0
};

// Loads libait_pyalg.so from the lib/ folder beside this program's bin/ folder and registers
// `specs` ("FILE.py:FUNC") with it.
PythonMetrics LoadPythonMetrics(const std::vector<std::string>& specs);

}  // namespace ait::cli
