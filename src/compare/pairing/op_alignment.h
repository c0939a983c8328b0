// The pieces of topology pairing that do not touch files: which operation types may pair,
// the order-preserving sequence alignment, and layer detection. Internal to pairing.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ait/op_mapping.h"
#include "compare/pairing/dump_tree.h"

namespace ait::topo {

// Order-preserving alignment of two sequences of n and m items: the pairs (i, j), i and j
// both increasing, that maximise the number of pairs for which compatible(i, j) holds, and
// among those keep paired items at similar relative positions (min sum |i/n - j/m|). It is
// repeated on what is left unpaired until nothing more pairs, so compatible items whose
// order differs between the sides (a b / b a) are found too. Pairs come back sorted by i.
std::vector<std::pair<size_t, size_t>> AlignSequences(size_t n, size_t m,
                                                      const std::function<bool(size_t, size_t)>& compatible);

// The same, family by family first: items whose group (>= 0) is equal align among themselves
// (an order that differs between families does not matter then), then everything left over.
std::vector<std::pair<size_t, size_t>> AlignSequences(const std::vector<int>& group_a, const std::vector<int>& group_b,
                                                      const std::function<bool(size_t, size_t)>& compatible);

// The built-in family (Linear, RMSNorm, LayerNorm, activation, embedding / gather, attention,
// rotary embedding, softmax) of an ATB operation type / a torch module type; -1 for none.
int AtbFamily(const std::string& atb_type);
int TorchFamily(const std::string& torch_type);

// Whether an ATB operation type and a torch module type may name the same computation:
// an exact entry of `mapping`, a custom entry (substring match, file suffixes ignored), or
// one of the built-in families (Linear, RMSNorm, LayerNorm, activations, embedding /
// gather, attention, rotary embedding, softmax; case-insensitive substrings).
bool AtbTorchTypesCompatible(const std::string& atb_type, const std::string& torch_type, const OpMapping& mapping);
// Whether two ATB operation types may name the same computation: equal, or one family
// (LinearOperation ~ LinearQuantOperation ~ LinearParallelOperation ...).
bool AtbTypesCompatible(const std::string& a, const std::string& b);

// Splits an op-mapping entry at its first '_' into (type, tensor file stem); no '_' gives
// (entry, "").
std::pair<std::string, std::string> SplitMappingEntry(const std::string& entry);

// The layer nodes of `tree` (pre-order) and their type. The original's rule first (the first
// node with more than 10 children whose most common child type occurs more than 5 times),
// then the type most repeated among one node's children with children of their own (at least
// 2: small models), then a single layer (the only graph operation under the ATB root, the
// first non-leaf child of a torch ModuleList/Sequential). Every node of the chosen type is a
// layer (not looking inside layers). Empty when the tree has no layers.
std::vector<int> DetectLayers(const DumpTree& tree, std::string* layer_type = nullptr);

}  // namespace ait::topo
