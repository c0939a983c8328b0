// The reference families: one function per file under src/opcheck/references/, each returning
// the references of its operation types. registry.cc lists them; adding a family is a file
// plus a line there.
#pragma once

#include <vector>

#include "opcheck/reference.h"

namespace ait::opcheck {

// Operations of the reference engine (engine/README.md's table).
std::vector<Reference> LinearReferences();      // Linear, MatMul/Matmul, LinearQuant
std::vector<Reference> NormReferences();        // RmsNorm, LayerNorm
std::vector<Reference> RopeReferences();        // Rope
std::vector<Reference> AttentionReferences();   // SelfAttention
std::vector<Reference> ActivationReferences();  // Activation, Softmax
std::vector<Reference> ElewiseReferences();     // Elewise
std::vector<Reference> IndexingReferences();    // Gather, Sampling
std::vector<Reference> ShapeReferences();       // Concat, Split, Transpose, Slice

// More of the original's types (FORMATS §8.2) that ATB models use.
std::vector<Reference> CacheReferences();       // PagedAttention, ReshapeAndCache, KvCache
std::vector<Reference> ReduceReferences();      // Cumsum, Reduce, Sort, Topk...
std::vector<Reference> LayoutReferences();      // Where, Fill, Pad, Unpad, Repeat, Transdata, ...
std::vector<Reference> CollectiveReferences();  // AllReduce, AllGather, LinearParallel

}  // namespace ait::opcheck
