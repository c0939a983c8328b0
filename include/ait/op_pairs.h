// Operation-level pairing: what every pairing strategy produces and what scoring and the
// first-divergence analysis consume. One OpPair is one operation (ATB op, kernel, layer) or
// torch module of "my" dump paired with its counterpart in the golden dump, for one token,
// with the tensor pairs of its inputs and of its outputs.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ait/compare_pair.h"

namespace ait {

struct OpPair {
  std::string token_id;                 // execute count / torch token folder
  std::string my_name, golden_name;     // names as they appear in the dumps (opName, module name,
                                        // or the relative folder when the dump has no topology)
  std::string my_type, golden_type;     // op type / module class ("" when unknown)
  std::string op_id;                    // ATB id path ("2_3") where the dump has one, else ""
  std::string match;                    // how the pair was made: "path", "exact", "mapped", "aligned"
  std::string layer;                    // enclosing layer of my side ("LlamaLayer_1"), "" outside layers
  int depth = 0;                        // 0 = top-level operation / layer
  bool leaf = true;                     // no paired children
  std::vector<TensorPair> inputs;       // may be empty when a dump holds no inputs
  std::vector<TensorPair> outputs;      // at least one
};

// A leaf operation of my dump with no counterpart in the golden one (ATB's Rope or
// SelfAttention against torch modules, which do that work inside a module's code), and where it
// ran among the pairs: after ops[before - 1] of its token completed and before ops[before] did.
struct UnpairedOp {
  std::string token_id, name, type, op_id;
  size_t before = 0;                    // index into OpPairing::ops
};

struct OpPairing {
  std::vector<OpPair> ops;              // token by token, each in execution order
  std::vector<UnpairedOp> my_unpaired;  // in execution order; from the strategies that link trees
  std::string strategy;                 // e.g. "ATB model vs torch model (topology + alignment)"
  std::filesystem::path golden_root, my_root;
  std::vector<std::string> notes;       // warnings worth showing: unpaired layers, skipped types...
  bool broadcast = false;               // the original's ATB-vs-ATB batch rule applies (FORMATS.md 7.6)
  std::vector<TensorPair> rows;         // the tensor pairs the CSV reports, in order, data_id numbered
  std::string nothing_paired;           // why, when `rows` is empty
};

// The identity of a tensor pair across OpPairs and rows: its two paths.
std::string PathKey(const TensorPair& pair);

// A tensor pair of `op`: its token, names, types and match, these paths and label (data_id unset).
TensorPair TensorPairOf(const OpPair& op, std::string golden_path, std::string my_path, std::string label);

// The output pairs of every operation, each (golden, my) file pair once, data_id renumbered:
// the CSV rows of a topology pairing.
std::vector<TensorPair> OutputPairs(const OpPairing& ops);

}  // namespace ait
