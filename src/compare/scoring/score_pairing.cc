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
  return CompareAll(pairs, options, progress);
}

}  // namespace ait
