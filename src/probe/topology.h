// Topology JSON the probe writes (FORMATS.md 5.1, 5.2): the layer file built from an
// operation's graph info, and the model file with its layer nodes merged with the layer graphs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ait::probe {

using OrderedJson = nlohmann::ordered_json;

// Compact single-line text (invalid UTF-8 replaced rather than thrown on).
std::string DumpCompact(const OrderedJson& j);

// The layer JSON for `graph` (ATB's GetGraphInfo: opName, opType, param, inTensorNum,
// outTensorNum, optional internalTensorNum and nodes). Keys in the order opName, opType,
// param, inTensors, outTensors, internalTensors, nodes; empty lists are left out. Returns
// nullopt with `error` set when a required key is missing or has the wrong type. A node with
// a tensor id outside its parent's list stops there (it keeps what was filled so far) and
// `error` says so, but the layer is still returned.
std::optional<OrderedJson> BuildLayerJson(const OrderedJson& graph, std::string* error);

// Merges model topologies with the layer graphs reported before them (FORMATS.md 5.2).
// Not thread-safe; the caller serializes.
class ModelMerger {
 public:
  // Remembers the graph reported for `op_name` (a layer) for later merges.
  void CacheLayer(const std::string& op_name, OrderedJson graph);

  // For every element of model["nodes"], in order: opType := opName; opName := opName + "_" +
  // N (N counts merged nodes process-wide, from 0); then, when a layer graph was cached
  // under the new name, add internalTensors and the layer's child nodes, looked up in
  // node.inTensors + node.outTensors + the new internal names. Other keys stay as they are.
  OrderedJson Merge(OrderedJson model, std::string* error);

 private:
  std::map<std::string, OrderedJson> layers_;
  uint64_t merged_nodes_ = 0;
};

}  // namespace ait::probe
