// ScoreForAnalysis: one CompareAll over the CSV's rows and every other tensor pair of the pairing.
#include "compare/scoring/score_pairing.h"

#include <unordered_map>

namespace ait {

std::vector<CompareRow> ScoreForAnalysis(const std::vector<TensorPair>& report_pairs, const OpPairing& ops,
                                         const CompareOptions& options,
                                         const std::function<void(size_t, size_t)>& progress) {
  std::vector<TensorPair> pairs = report_pairs;
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < pairs.size(); ++i) seen.emplace(PathKey(pairs[i]), i);
  for (const OpPair& op : ops.ops)
    for (const auto* side : {&op.inputs, &op.outputs})
      for (const TensorPair& p : *side)
        if (seen.try_emplace(PathKey(p), pairs.size()).second) pairs.push_back(p);
  if (options.custom_metrics.empty() || pairs.size() == report_pairs.size()) return CompareAll(pairs, options, progress);
  // The user's metrics fill CSV columns: they run on the report's pairs only, not on the pairs
  // only the analysis reads (they may be slow, Python).
  const size_t n = report_pairs.size(), total = pairs.size();
  std::vector<TensorPair> rest(pairs.begin() + static_cast<std::ptrdiff_t>(n), pairs.end());
  pairs.resize(n);
  std::function<void(size_t, size_t)> first, second;
  if (progress) {
    first = [&](size_t done, size_t) { progress(done, total); };
    second = [&](size_t done, size_t) { progress(n + done, total); };
  }
  std::vector<CompareRow> rows = CompareAll(pairs, options, first);
  CompareOptions plain = options;
  plain.custom_metrics.clear();
  std::vector<CompareRow> more = CompareAll(rest, plain, second);
  rows.insert(rows.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  return rows;
}

}  // namespace ait
