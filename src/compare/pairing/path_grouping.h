// Operations from a path pairing: groups the tensor files of two same-layout dumps into one
// OpPair per operation folder, named from the dump's `{id}_{Type}` folder chain (ATB) or module
// folder (torch), so the first-divergence analysis can work on dumps that need no topology
// strategy (ATB vs ATB of the same graph, torch vs torch).
#pragma once

#include "ait/op_pairs.h"
#include "compare/pairing/pair_by_path.h"

namespace ait {

// One OpPair per folder holding tensor files, in execution (completion) order: an operation
// comes after its kernels and child operations, as the dump's `after/` files do.
// - inputs: `intensor*`/`inTensor*`/`input*` files (from `before/` when the dump has them there,
//   else from `after/`); outputs: every other tensor file of the folder except `before/` outputs
//   (`outtensor*`, `output*`, and files named otherwise); folders with no output are left out.
// - ATB folders (`3_LinearOperation` chains under a token folder): op_id = the ids joined by `_`
//   ("1_2_0"), type = the last folder's type; name = the opName of the model JSON
//   (`ait_dump/model/{pid}/*.json`, found beside the tensors) whose id path and type agree,
//   else `{Type}_{op_id}` as ATB names operations; a kernel (a folder inside a leaf operation)
//   is `{operation name}:{Kernel}` as ATB's overflow report names it. depth = folders - 1.
//   layer = the enclosing layer: the shallowest graph level holding several graphs (or the
//   deepest single one), e.g. `LlamaLayer_1`; a layer's own OpPair carries its own name.
// - torch module folders (`root.model.layers.0.mlp`): name = the module name, type from
//   `model_tree.json` when present, depth = its number of dots, layer = the nearest module
//   whose last name part is a number (`root.model.layers.0`).
// - Every TensorPair gets my_name/my_type/golden_name/golden_type of its folder and match "path".
// leaf is false for folders that hold another grouped folder. Never throws for bad or missing
// topology files (names then come from the folders alone).
OpPairing GroupByOperation(const PairingResult& pairing);

// Fills my_name, my_type, golden_name, golden_type and match of every pair of `pairing` from its
// operation folder (the same names GroupByOperation gives), for the CSV's extra columns.
void NameTensorPairsByPath(PairingResult& pairing);

}  // namespace ait
