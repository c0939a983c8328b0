// The tensor pairs of an operation pairing (op_pairs.h).
#include "ait/op_pairs.h"

#include <unordered_map>

namespace ait {

std::string PathKey(const TensorPair& p) { return p.golden_path + '\n' + p.my_path; }

std::vector<TensorPair> OutputPairs(const OpPairing& ops) {
  std::vector<TensorPair> out;
  std::unordered_map<std::string, size_t> seen;
  for (const OpPair& op : ops.ops)
    for (const TensorPair& p : op.outputs)
      if (seen.try_emplace(PathKey(p), out.size()).second) {
        out.push_back(p);
        out.back().data_id = std::to_string(out.size() - 1);
      }
  return out;
}

}  // namespace ait
