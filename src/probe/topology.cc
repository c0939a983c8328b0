#include "probe/topology.h"

#include <vector>

namespace ait::probe {

namespace {

// Graph info comes from the host: bound what it can make us allocate and how deep we recurse.
constexpr int64_t kMaxTensorCount = 1 << 20;
constexpr int kMaxDepth = 64;

using Names = std::vector<std::string>;

void SetError(std::string* error, const std::string& message) {
  if (error != nullptr && error->empty()) *error = message;
}

// A count field: absent → 0 (when optional); present → an integer in [0, kMaxTensorCount].
bool Count(const OrderedJson& obj, const char* key, bool required, int64_t* count, std::string* error) {
  *count = 0;
  const auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) SetError(error, std::string("missing key '") + key + "'");
    return !required;
  }
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > kMaxTensorCount) {
    SetError(error, std::string("'") + key + "' must be an integer in [0, " + std::to_string(kMaxTensorCount) +
                        "], found " + DumpCompact(*it));
    return false;
  }
  *count = it->get<int64_t>();
  return true;
}

Names Numbered(const std::string& prefix, const char* kind, int64_t count) {
  Names names;
  names.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) names.push_back(prefix + "_" + kind + "_" + std::to_string(i));
  return names;
}

OrderedJson Array(const Names& names) {
  OrderedJson a = OrderedJson::array();
  for (const std::string& n : names) a.push_back(n);
  return a;
}

std::string NameOf(const OrderedJson& v) { return v.is_string() ? v.get<std::string>() : DumpCompact(v); }

void CopyIfPresent(const OrderedJson& from, OrderedJson& to, const char* key) {
  if (const auto it = from.find(key); it != from.end()) to[key] = *it;
}

OrderedJson BuildChildren(const OrderedJson& nodes, const Names& names, int depth, std::string* error);

// One child node: names of its tensors picked from the parent's list by id.
OrderedJson BuildChild(const OrderedJson& node, const Names& parent_names, int depth, std::string* error) {
  OrderedJson child = OrderedJson::object();
  if (!node.is_object()) {
    SetError(error, "a node is not an object: " + DumpCompact(node));
    return child;
  }
  CopyIfPresent(node, child, "opName");
  CopyIfPresent(node, child, "opType");
  CopyIfPresent(node, child, "param");
  const std::string name = child.contains("opName") ? NameOf(child["opName"]) : "";
  Names own;  // the child's list for its own children: in, out, internal
  for (const auto& [ids_key, out_key] : {std::pair{"inTensorIds", "inTensors"}, std::pair{"outTensorIds", "outTensors"}}) {
    Names picked;
    bool ok = true;
    if (const auto it = node.find(ids_key); it != node.end() && it->is_array()) {
      for (const auto& id : *it) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
            static_cast<uint64_t>(id.get<int64_t>()) >= parent_names.size()) {
          SetError(error, "node '" + name + "': " + ids_key + " holds " + DumpCompact(id) + ", outside the " +
                              std::to_string(parent_names.size()) + " tensors of its parent");
          ok = false;
          break;
        }
        picked.push_back(parent_names[static_cast<size_t>(id.get<int64_t>())]);
      }
    }
    if (!picked.empty()) child[out_key] = Array(picked);
    if (!ok) return child;  // as the original: the node stays partially filled
    own.insert(own.end(), picked.begin(), picked.end());
  }
  int64_t internal = 0;
  if (!Count(node, "internalTensorNum", false, &internal, error)) return child;
  const Names internal_names = Numbered(name, "internal", internal);
  if (!internal_names.empty()) child["internalTensors"] = Array(internal_names);
  own.insert(own.end(), internal_names.begin(), internal_names.end());
  if (const auto it = node.find("nodes"); it != node.end()) {
    OrderedJson children = BuildChildren(*it, own, depth + 1, error);
    if (!children.empty()) child["nodes"] = std::move(children);
  }
  return child;
}

OrderedJson BuildChildren(const OrderedJson& nodes, const Names& names, int depth, std::string* error) {
  OrderedJson out = OrderedJson::array();
  if (!nodes.is_array()) return out;
  if (depth > kMaxDepth) {
    SetError(error, "graph nested deeper than " + std::to_string(kMaxDepth) + " levels");
    return out;
  }
  for (const auto& node : nodes) out.push_back(BuildChild(node, names, depth, error));
  return out;
}

}  // namespace

std::string DumpCompact(const OrderedJson& j) { return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace); }

std::optional<OrderedJson> BuildLayerJson(const OrderedJson& graph, std::string* error) {
  if (!graph.is_object()) {
    SetError(error, "the graph is not a JSON object");
    return std::nullopt;
  }
  for (const char* key : {"opName", "opType"})
    if (!graph.contains(key)) {
      SetError(error, std::string("missing key '") + key + "'");
      return std::nullopt;
    }
  if (!graph["opName"].is_string()) {
    SetError(error, "'opName' is not a string");
    return std::nullopt;
  }
  int64_t in = 0, out = 0, internal = 0;
  if (!Count(graph, "inTensorNum", true, &in, error) || !Count(graph, "outTensorNum", true, &out, error) ||
      !Count(graph, "internalTensorNum", false, &internal, error))
    return std::nullopt;

  const std::string name = graph["opName"].get<std::string>();
  OrderedJson layer = OrderedJson::object();
  layer["opName"] = graph["opName"];
  layer["opType"] = graph["opType"];
  CopyIfPresent(graph, layer, "param");
  Names names;
  for (const auto& [kind, count, key] : {std::tuple{"input", in, "inTensors"}, std::tuple{"output", out, "outTensors"},
                                         std::tuple{"internal", internal, "internalTensors"}}) {
    const Names n = Numbered(name, kind, count);
    if (!n.empty()) layer[key] = Array(n);
    names.insert(names.end(), n.begin(), n.end());
  }
  if (const auto it = graph.find("nodes"); it != graph.end()) {
    OrderedJson children = BuildChildren(*it, names, 1, error);
    if (!children.empty()) layer["nodes"] = std::move(children);
  }
  return layer;
}

void ModelMerger::CacheLayer(const std::string& op_name, OrderedJson graph) { layers_[op_name] = std::move(graph); }

OrderedJson ModelMerger::Merge(OrderedJson model, std::string* error) {
  if (!model.is_object()) return model;
  const auto nodes = model.find("nodes");
  if (nodes == model.end() || !nodes->is_array()) return model;
  for (auto& node : *nodes) {
    if (!node.is_object() || !node.contains("opName")) {
      SetError(error, "a model node has no opName: " + DumpCompact(node));
      continue;
    }
    const std::string old_name = NameOf(node["opName"]);
    node["opType"] = old_name;
    const std::string name = old_name + "_" + std::to_string(merged_nodes_++);
    node["opName"] = name;
    const auto cached = layers_.find(name);
    if (cached == layers_.end()) continue;
    Names names;
    for (const char* key : {"inTensors", "outTensors"})
      if (const auto it = node.find(key); it != node.end() && it->is_array())
        for (const auto& t : *it) names.push_back(NameOf(t));
    int64_t internal = 0;
    if (!Count(cached->second, "internalTensorNum", false, &internal, error)) continue;
    const Names internal_names = Numbered(name, "internal", internal);
    if (!internal_names.empty()) node["internalTensors"] = Array(internal_names);
    names.insert(names.end(), internal_names.begin(), internal_names.end());
    if (const auto it = cached->second.find("nodes"); it != cached->second.end()) {
      OrderedJson children = BuildChildren(*it, names, 1, error);
      if (!children.empty()) node["nodes"] = std::move(children);
    }
  }
  return model;
}

}  // namespace ait::probe
