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

TensorPair TensorPairOf(const OpPair& op, std::string golden_path, std::string my_path, std::string label) {
  TensorPair p;
  p.token_id = op.token_id;
  p.golden_path = std::move(golden_path);
  p.my_path = std::move(my_path);
  p.label = std::move(label);
  p.my_name = op.my_name;
  p.my_type = op.my_type;
  p.golden_name = op.golden_name;
  p.golden_type = op.golden_type;
  p.match = op.match;
  return p;
}

}  // namespace ait
