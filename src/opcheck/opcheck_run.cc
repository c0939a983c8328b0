// RunOpcheck: discover, check in parallel, report.
#include "ait/opcheck_run.h"

#include <cblas.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>

#include <fmt/format.h>

#include "ait/error.h"
#include "ait/text.h"
#include "opcheck/case_check.h"
#include "opcheck/case_discovery.h"
#include "opcheck/opcheck_report.h"

namespace ait {
namespace fs = std::filesystem;

std::string_view CaseStatusText(CaseStatus s) {
  switch (s) {
    case CaseStatus::kPassed: return "PASS";
    case CaseStatus::kFailed: return "FAILED";
    case CaseStatus::kUnsupported: return "addition failed";
  }
  return "FAILED";
}

namespace {

// Runs fn(i) for i in [0, n) on oneTBB (`threads` workers, 0 = all cores). Operations are the
// unit of parallel work, so OpenBLAS runs each dgemm on its caller's thread meanwhile (its own
// threads would compete with the workers for the cores); its setting is restored after.
template <typename Fn>
void ForEachCase(size_t n, int threads, const Fn& fn) {
  const int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  auto run = [&] { tbb::parallel_for(size_t{0}, n, fn); };
  try {
    if (threads > 0) {
      tbb::task_arena arena(threads);
      arena.execute(run);
    } else {
      run();
    }
  } catch (...) {
    openblas_set_num_threads(blas_threads);
    throw;
  }
  openblas_set_num_threads(blas_threads);
}

opcheck::MetricSet ParseMetrics(const std::vector<std::string>& names) {
  opcheck::MetricSet m;
  for (const std::string& n : names) {
    if (n == "abs") m.abs = true;
    else if (n == "cos_sim") m.cosine = true;
    else if (n == "kl") m.kl = true;
    else Fail("-metric", "'{}' is not one of abs, cos_sim, kl", n);
  }
  return m;
}

// Why nothing was found, with the dump flags that write what opcheck needs.
[[noreturn]] void NothingToCheck(const OpcheckRequest& request, const opcheck::Discovery& found) {
  const bool filtered = !request.ids.empty() || !request.names.empty();
  if (filtered && (found.graphs == 0 && found.without_after == 0 && found.without_param == 0))
    Fail(request.input.string(), "no operation matches -ids/-opname");
  std::string why;
  if (found.without_after)
    why = fmt::format("{} operation folders hold op_param.json but no after/ tensors: dump with "
                      "'ait llm dump --type tensor -time 2' (or -time 1)", found.without_after);
  else if (found.without_param)
    why = fmt::format("{} operation folders hold after/ tensors but no op_param.json (an older probe): dump again "
                      "with this toolkit's 'ait llm dump --type tensor -time 2', or give -c the dump's "
                      "operation_tensors_{{n}}.csv ('--type tensor op')", found.without_param);
  else if (filtered)
    why = "no operation matches -ids/-opname";
  else
    why = "no operation folder holds an after/ folder and an op_param.json: dump with "
          "'ait llm dump --type tensor -time 2' (or -time 1)";
  Fail(request.input.string(), "nothing to check: {}", why);
}

}  // namespace

OpcheckResult RunOpcheck(const OpcheckRequest& request) {
  const opcheck::MetricSet metrics = ParseMetrics(request.metrics);
  const opcheck::CaseFilter filter{opcheck::ParseIdList(request.ids), SplitCommaList(request.names)};
  opcheck::Discovery found = request.op_csv.empty()
                                 ? opcheck::DiscoverCases(request.input, filter)
                                 : opcheck::CasesFromOperationCsv(request.op_csv, request.input, filter);
  if (found.cases.empty()) NothingToCheck(request, found);

  std::unique_ptr<opcheck::EngineRerun> engine;
  if (request.rerun) engine = opcheck::EngineRerun::Load();
  opcheck::CheckOptions options{metrics, engine.get()};

  OpcheckResult result;
  result.base = found.base;
  result.graphs = found.graphs;
  result.cases.resize(found.cases.size());
  std::atomic<size_t> done{0};
  const size_t total = found.cases.size();
  ForEachCase(total, request.threads, [&](size_t i) {
    result.cases[i] = opcheck::CheckCase(found.cases[i], options);
    const size_t d = ++done;
    if (request.progress) request.progress(d, total);
  });
  for (const OpcheckCase& c : result.cases) {
    if (c.status == CaseStatus::kPassed) ++result.passed;
    if (c.status == CaseStatus::kFailed) ++result.failed;
    if (c.status == CaseStatus::kUnsupported) ++result.unsupported;
    if (c.rerun_differs) ++result.rerun_differs;
  }
  result.exit_status = result.failed ? 1 : 0;
  if (!request.output.empty()) opcheck::WriteOpcheckReports(request.output, metrics, request.rerun, result);
  return result;
}

std::vector<std::optional<OpcheckCase>> CheckOperationFolders(const std::vector<fs::path>& dirs, int threads) {
  std::vector<std::optional<OpcheckCase>> out(dirs.size());
  const opcheck::CheckOptions options;
  ForEachCase(dirs.size(), threads, [&](size_t i) {
    if (dirs[i].empty()) return;
    if (auto spec = opcheck::CaseAt(dirs[i])) out[i] = opcheck::CheckCase(*spec, options);
  });
  return out;
}

namespace {
std::string OutputEvidence(const OutputCheck& o) {
  if (!o.scored) return fmt::format("output {}: {}", o.index, o.fail_reason);
  return fmt::format("output {} ({}): {:.4g}% of {} elements within {} (needs {}%), max relative error {:.4g}{}", o.index,
                     ShortName(o.dtype), o.rel_rate, o.elements, o.standard.error_level, o.standard.required_rate,
                     o.max_rel, o.worst.empty() ? "" : " at " + o.worst);
}
}  // namespace

std::string CaseEvidence(const OpcheckCase& c) {
  for (const OutputCheck& o : c.outputs)
    if (!o.passed) return OutputEvidence(o);
  if (!c.fail_reason.empty()) return c.fail_reason;
  double worst = 0;
  for (const OutputCheck& o : c.outputs) worst = std::max(worst, o.max_rel);
  return fmt::format("every output within its dtype's standard (max relative error {:.3g})", worst);
}

std::string FormatOpcheckResult(const OpcheckResult& result) {
  std::string out = fmt::format("opcheck: {} operation{} checked under {}: {} PASS, {} FAILED, {} addition failed",
                                result.cases.size(), result.cases.size() == 1 ? "" : "s", result.base.string(),
                                result.passed, result.failed, result.unsupported);
  if (result.graphs) out += fmt::format(" ({} graph operations: their nodes are checked)", result.graphs);
  out += "\n";
  constexpr size_t kListed = 20;
  auto where = [](const OpcheckCase& c) {
    return fmt::format("token {} op {} {}", c.token, c.op_id, c.op_type);
  };
  size_t listed = 0;
  if (result.failed) out += "\nFAILED (each checked on its own dumped inputs against a float64 reference):\n";
  for (const OpcheckCase& c : result.cases) {
    if (c.status != CaseStatus::kFailed) continue;
    if (listed++ == kListed) {
      out += fmt::format("  ... and {} more (the report lists every one)\n", result.failed - kListed);
      break;
    }
    out += fmt::format("  {}\n", where(c));
    for (const OutputCheck& o : c.outputs)
      if (!o.passed) out += "    " + OutputEvidence(o) + "\n";
    if (!c.fail_reason.empty()) out += fmt::format("    {}\n", c.fail_reason);
    out += fmt::format("    tensors: {}\n", c.tensor_path.string());
  }
  if (result.unsupported) {
    out += "\nNot checked (addition failed):\n";
    listed = 0;
    for (const OpcheckCase& c : result.cases) {
      if (c.status != CaseStatus::kUnsupported) continue;
      if (listed++ == kListed) {
        out += fmt::format("  ... and {} more\n", result.unsupported - kListed);
        break;
      }
      out += fmt::format("  {}: {}\n", where(c), c.fail_reason);
    }
  }
  if (result.rerun_differs) {
    out += fmt::format("\n-rerun: {} operation{} gave other outputs than the dump (the run or the dump is not "
                       "deterministic):\n", result.rerun_differs, result.rerun_differs == 1 ? "" : "s");
    listed = 0;
    for (const OpcheckCase& c : result.cases) {
      if (!c.rerun_differs) continue;
      if (listed++ == kListed) {
        out += "  ...\n";
        break;
      }
      out += fmt::format("  {}: {}\n", where(c), c.rerun_vs_dump);
    }
  }
  if (!result.xlsx.empty()) out += fmt::format("\nReports:\n  {}\n  {}\n", result.xlsx.string(), result.csv.string());
  return out;
}

}  // namespace ait
