// Checking one operation: read its dumped inputs and outputs, run its float64 reference, score
// every output (src/opcheck/output_score.h); with -rerun, run it again through the engine too.
#pragma once

#include "ait/opcheck_run.h"
#include "opcheck/case_discovery.h"
#include "opcheck/engine_rerun.h"
#include "opcheck/output_score.h"

namespace ait::opcheck {

struct CheckOptions {
  MetricSet metrics;
  const EngineRerun* rerun = nullptr;  // -rerun: score the engine's run instead of the dump
};

// Never throws for a bad operation: an unreadable param or tensor, a missing file, a reference
// that rejects the inputs all become the case's fail reason.
OpcheckCase CheckCase(const CaseSpec& spec, const CheckOptions& options);

}  // namespace ait::opcheck
