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
std::vector<Reference> ShapeReferences();       // Concat, Split, Transpose, Slice (not in the engine)

// More of the original's types (FORMATS §8.2) that ATB models use.
std::vector<Reference> CacheReferences();       // PagedAttention, ReshapeAndCache, KvCache
// Cumsum, Reduce, Sort, FastSoftMax, FastSoftMaxGrad, StridedBatchMatmul, RopeGrad
std::vector<Reference> ReduceReferences();
// Where, Fill, Pad, Unpad, Repeat, Transdata, AsStrided, SetValue, GenAttentionMask
std::vector<Reference> LayoutReferences();
std::vector<Reference> CollectiveReferences();  // AllReduce, AllGather, Broadcast, LinearParallel

}  // namespace ait::opcheck
