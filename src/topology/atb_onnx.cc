// ATB topology JSON -> ONNX ModelProto (include/ait/atb_onnx.h, FORMATS.md 5.4): node
// selection by level, params to attributes, and what onnx's checker needs on top of the
// original's conversion (versions, a custom domain, typed graph values, SSA names).
#include "ait/atb_onnx.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ait/error.h"
#include "ait/mapped_file.h"

namespace ait {
namespace {

using nlohmann::json;

// Input limits: a Llama-70B model JSON with every layer's children merged is a few MiB and
// nests about 8 JSON levels; these are far above that and far below trouble.
constexpr size_t kMaxFileBytes = size_t{256} << 20;
constexpr int kMaxJsonDepth = 128;   // objects and arrays, counted in the file
constexpr int kMaxNodeDepth = 48;    // "nodes" inside "nodes"
constexpr int kMaxParamDepth = 16;   // objects inside a node's param

// IR 7 / ai.onnx 13 (onnx >= 1.8) rather than the newest, so older onnx checkers and
// viewers accept the model too; nothing here needs a later IR.
constexpr int64_t kIrVersion = 7;
constexpr int64_t kOnnxOpset = 13;
constexpr char kAtbDomain[] = "ait.atb";
constexpr int64_t kAtbOpset = 1;

// "[json.exception.parse_error.101] parse error at ..." -> "parse error at ...", with the
// bytes nlohmann quotes from the input ("last read: ...") made printable: they may be
// control characters or broken UTF-8.
std::string PlainJsonMessage(const char* what) {
  std::string_view s = what;
  if (s.rfind("[json.exception.", 0) == 0) {
    size_t end = s.find("] ");
    if (end != std::string_view::npos) s.remove_prefix(end + 2);
  }
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) out += c;
    else out += fmt::format("\\x{:02x}", u);
  }
  return out;
}

const json* Find(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// True when `v` has containers nested more than `limit` levels deep (bounded recursion).
bool DeeperThan(const json& v, int limit) {
  if (!v.is_structured()) return false;
  if (limit == 0) return true;
  for (const json& child : v)
    if (DeeperThan(child, limit - 1)) return true;
  return false;
}

float ToFloat(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? 1.0f : 0.0f;
  double d = v.get<double>();
  if (std::isnan(d)) return std::numeric_limits<float>::quiet_NaN();
  if (d > FLT_MAX) return std::numeric_limits<float>::infinity();
  if (d < -FLT_MAX) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(d);
}

// Value names in single-static-assignment form, as the checker demands: the first write of
// a tensor keeps its name, later writes (in-place operations, reused internal tensors) get
// "<name>#<k>", and readers see the latest write.
class ValueNames {
 public:
  const std::string* Latest(const std::string& tensor) const {
    auto it = latest_.find(tensor);
    return it == latest_.end() ? nullptr : &it->second;
  }
  const std::string& Define(const std::string& tensor) {
    std::string name = tensor;
    if (used_.count(name)) {
      int& k = next_version_[tensor];
      do name = tensor + "#" + std::to_string(++k);
      while (used_.count(name));
    }
    used_.insert(name);
    return latest_[tensor] = std::move(name);
  }

 private:
  std::unordered_set<std::string> used_;
  std::unordered_map<std::string, std::string> latest_;
  std::unordered_map<std::string, int> next_version_;
};

class Converter {
 public:
  Converter(const json& root, int target_level, const std::string& where)
      : root_(root), target_level_(target_level), where_(where) {}

  std::string Run() {
    if (target_level_ < -1)
      Fail(where_, "target level must be -1 (all leaves), 0 (the root as one node) or a depth >= 1, got {}",
           target_level_);
    if (!root_.is_object())
      Fail(where_, "the top level must be a JSON object (an ATB layer or model topology), found {}",
           root_.type_name());
    std::string graph_name = RootName();

    onnx::ModelProto model;
    model.set_ir_version(kIrVersion);
    model.set_producer_name("ait-llm");
    model.set_producer_version(AIT_VERSION);
    auto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(kOnnxOpset);
    opset = model.add_opset_import();
    opset->set_domain(kAtbDomain);
    opset->set_version(kAtbOpset);
    AddMetadata(model, "ait.source", std::filesystem::path(where_).filename().string());
    AddMetadata(model, "ait.target_level", std::to_string(target_level_));

    onnx::GraphProto* graph = model.mutable_graph();
    graph->set_name(graph_name);
    for (const std::string& t : TensorList(root_, "the top level", "inTensors"))
      if (!t.empty() && !values_.Latest(t)) AddValueInfo(graph->add_input(), values_.Define(t), nullptr);

    std::vector<Selected> nodes;
    if (target_level_ == 0 || !Children(root_, "the top level")) {
      nodes.push_back({&root_, "the top level"});
    } else {
      const json& children = *Children(root_, "the top level");
      for (size_t i = 0; i < children.size(); ++i)
        Select(children[i], "nodes[" + std::to_string(i) + "]", 1, nodes);
    }
    for (const Selected& s : nodes) Emit(*s.node, s.path, graph);

    for (const std::string& t : TensorList(root_, "the top level", "outTensors")) {
      if (t.empty()) continue;
      const std::string* latest = values_.Latest(t);
      AddValueInfo(graph->add_output(), latest ? *latest : t, nullptr);
    }

    size_t size = model.ByteSizeLong();
    if (size > static_cast<size_t>(INT_MAX))
      Fail(where_, "the ONNX model would be {} bytes, over protobuf's 2 GiB", size);
    std::string bytes;
    if (!model.SerializeToString(&bytes)) Fail(where_, "serializing the ONNX model failed");
    return bytes;
  }

 private:
  struct Selected {
    const json* node;
    std::string path;
  };

  // Layer JSON: opName; model JSON: modelName.
  std::string RootName() const {
    for (const char* key : {"opName", "modelName"}) {
      const json* v = Find(root_, key);
      if (!v) continue;
      if (!v->is_string()) Fail(where_, "the top-level '{}' must be a string, found {}", key, v->type_name());
      if (v->get_ref<const std::string&>().empty()) Fail(where_, "the top-level '{}' is empty", key);
      return v->get<std::string>();
    }
    Fail(where_,
         "no 'opName' (layer JSON) or 'modelName' (model JSON) at the top level: not an ATB topology JSON "
         "(top-level keys: {})",
         KeySample(root_));
  }

  static std::string KeySample(const json& object) {
    std::string keys;
    size_t n = 0;
    for (const auto& [key, value] : object.items()) {
      if (n++ == 8) return keys + ", ...";
      keys += (keys.empty() ? "" : ", ") + key;
    }
    return keys.empty() ? "none" : keys;
  }

  // "nodes[2].nodes[0] (LinearOperation_3_1)" for messages.
  static std::string Label(const json& node, const std::string& path) {
    const json* name = node.is_object() ? Find(node, "opName") : nullptr;
    if (name && name->is_string()) return path + " (" + name->get<std::string>() + ")";
    return path;
  }

  // The node's children, or nullptr for a leaf (no "nodes", or an empty array).
  const json* Children(const json& node, const std::string& path) const {
    const json* children = Find(node, "nodes");
    if (!children) return nullptr;
    if (!children->is_array())
      Fail(where_, "{}: 'nodes' must be an array of node objects, found {}", Label(node, path),
           children->type_name());
    return children->empty() ? nullptr : children;
  }

  std::vector<std::string> TensorList(const json& node, const std::string& path, const char* key) const {
    std::vector<std::string> names;
    const json* list = Find(node, key);
    if (!list) return names;  // the probe omits empty lists
    if (!list->is_array())
      Fail(where_, "{}: '{}' must be an array of tensor names, found {}", Label(node, path), key, list->type_name());
    names.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
      const json& t = (*list)[i];
      if (!t.is_string())
        Fail(where_, "{}: '{}[{}]' must be a tensor name (string), found {}", Label(node, path), key, i,
             t.type_name());
      names.push_back(t.get<std::string>());
    }
    return names;
  }

  std::string StringField(const json& node, const std::string& path, const char* key) const {
    const json* v = Find(node, key);
    if (!v) Fail(where_, "{}: '{}' is missing", Label(node, path), key);
    if (!v->is_string()) Fail(where_, "{}: '{}' must be a string, found {}", Label(node, path), key, v->type_name());
    return v->get<std::string>();
  }

  // The original's walk: a node is emitted when it is a leaf or has reached the target
  // level (unless the target is -1, all leaves); otherwise its children are visited.
  void Select(const json& node, const std::string& path, int level, std::vector<Selected>& out) const {
    if (!node.is_object())
      Fail(where_, "{}: a node must be a JSON object, found {}", path, node.type_name());
    if (level > kMaxNodeDepth) Fail(where_, "{}: nodes nested more than {} levels deep", path, kMaxNodeDepth);
    const json* children = Children(node, path);
    if (!children || (target_level_ != -1 && level >= target_level_)) {
      out.push_back({&node, path});
      return;
    }
    for (size_t i = 0; i < children->size(); ++i)
      Select((*children)[i], path + ".nodes[" + std::to_string(i) + "]", level + 1, out);
  }

  void Emit(const json& node, const std::string& path, onnx::GraphProto* graph) {
    onnx::NodeProto* out = graph->add_node();
    const bool is_root = &node == &root_;
    out->set_name(is_root ? RootName() : StringField(node, path, "opName"));
    // A model JSON's root has no opType; its modelName names the whole graph.
    const bool model_root = is_root && !Find(node, "opName") && !Find(node, "opType");
    std::string op_type = model_root ? RootName() : StringField(node, path, "opType");
    if (op_type.empty()) Fail(where_, "{}: 'opType' is empty", Label(node, path));
    out->set_op_type(op_type);
    out->set_domain(kAtbDomain);

    for (const std::string& t : TensorList(node, path, "inTensors")) {
      if (t.empty()) {  // ONNX's "optional input left out"
        out->add_input();
        continue;
      }
      const std::string* latest = values_.Latest(t);
      if (!latest) {
        latest = &values_.Define(t);
        AddValueInfo(graph->add_input(), *latest,
                     "not an input of the ATB graph: read before any converted node writes it "
                     "(a weight, a cache, or a tensor of a node outside the converted level)");
      }
      out->add_input(*latest);
    }
    for (const std::string& t : TensorList(node, path, "outTensors"))
      out->add_output(t.empty() ? t : values_.Define(t));
    // The checker refuses a node with neither inputs nor outputs; "" is ONNX's "optional
    // output not produced", which viewers do not draw.
    if (out->input_size() == 0 && out->output_size() == 0) out->add_output();

    attribute_names_.clear();
    const json* param = Find(node, "param");
    if (!param || param->is_null()) return;
    if (param->is_object()) {
      for (const auto& [key, value] : param->items())
        AddAttribute(out, key.empty() ? "(empty)" : key, value, 1, node, path);
    } else {
      AddAttribute(out, "param", *param, 1, node, path);
    }
  }

  // One param entry: objects flatten to "<name>.<key>", everything else is one attribute.
  void AddAttribute(onnx::NodeProto* out, const std::string& name, const json& value, int depth, const json& node,
                    const std::string& path) {
    if (depth > kMaxParamDepth)
      Fail(where_, "{}: param '{}' nests objects more than {} levels deep", Label(node, path), name, kMaxParamDepth);
    if (value.is_object() && !value.empty()) {
      for (const auto& [key, sub] : value.items()) AddAttribute(out, name + "." + key, sub, depth + 1, node, path);
      return;
    }
    onnx::AttributeProto* attr = out->add_attribute();
    attr->set_name(UniqueAttributeName(name));
    auto as_text = [&](const json& v) {
      if (v.is_string()) return v.get<std::string>();
      if (v.is_binary()) return std::string(v.get_binary().begin(), v.get_binary().end());
      if (DeeperThan(v, kMaxParamDepth))
        Fail(where_, "{}: param '{}' nests values more than {} levels deep", Label(node, path), name, kMaxParamDepth);
      return v.dump(-1, ' ', false, json::error_handler_t::replace);
    };
    switch (value.type()) {
      case json::value_t::array: {
        bool numeric = true;
        for (const json& e : value) numeric = numeric && (e.is_number() || e.is_boolean());
        if (numeric) {
          attr->set_type(onnx::AttributeProto::FLOATS);
          attr->mutable_floats()->Reserve(static_cast<int>(std::min<size_t>(value.size(), INT_MAX)));
          for (const json& e : value) attr->add_floats(ToFloat(e));
        } else {
          attr->set_type(onnx::AttributeProto::STRINGS);
          for (const json& e : value) attr->add_strings(as_text(e));
        }
        break;
      }
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float:
      case json::value_t::boolean:
        attr->set_type(onnx::AttributeProto::FLOATS);
        attr->add_floats(ToFloat(value));
        break;
      case json::value_t::null:
      case json::value_t::discarded:
        attr->set_type(onnx::AttributeProto::FLOATS);  // the key, with no value
        break;
      default:  // string, binary, empty object
        attr->set_type(onnx::AttributeProto::STRINGS);
        attr->add_strings(as_text(value));
        break;
    }
  }

  // Flattening can collide ({"a.b": 1, "a": {"b": 2}}): later names get "#2", "#3", ...
  std::string UniqueAttributeName(const std::string& name) {
    std::string unique = name;
    for (int k = 2; attribute_names_.count(unique); ++k) unique = name + "#" + std::to_string(k);
    attribute_names_.insert(unique);
    return unique;
  }

  // The JSON knows neither dtype nor shape; the checker requires both fields on graph
  // inputs and outputs, so they are present and say "unknown": elem_type UNDEFINED and an
  // empty shape.
  static void AddValueInfo(onnx::ValueInfoProto* info, const std::string& name, const char* doc) {
    info->set_name(name);
    onnx::TypeProto_Tensor* tensor = info->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnx::TensorProto::UNDEFINED);
    tensor->mutable_shape();
    if (doc) info->set_doc_string(doc);
  }

  static void AddMetadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
    auto* entry = model.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }

  const json& root_;
  const int target_level_;
  const std::string& where_;
  ValueNames values_;
  std::unordered_set<std::string> attribute_names_;  // of the node being emitted
};

json ParseTopologyFile(const std::string& path) {
  std::shared_ptr<const MappedFile> file = MappedFile::Open(path);
  if (file->size() > kMaxFileBytes)
    Fail(path, "{} bytes is more than a topology JSON may have ({} MiB)", file->size(), kMaxFileBytes >> 20);
  const char* begin = reinterpret_cast<const char*>(file->data());
  json::parser_callback_t limit_depth = [&path](int depth, json::parse_event_t event, json&) {
    // `depth` counts the containers around the one that starts.
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      Fail(path, "JSON nested more than {} levels deep", kMaxJsonDepth);
    return true;
  };
  try {
    return json::parse(begin, begin + file->size(), limit_depth);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e400
    Fail(path, "not valid JSON: {}", PlainJsonMessage(e.what()));
  }
}

// "x.json" -> "x.onnx"; any other name gets ".onnx" appended.
std::string OnnxPathFor(const std::string& json_path) {
  constexpr std::string_view kJson = ".json";
  if (json_path.size() > kJson.size() && json_path.compare(json_path.size() - kJson.size(), kJson.size(), kJson) == 0)
    return json_path.substr(0, json_path.size() - kJson.size()) + ".onnx";
  return json_path + ".onnx";
}

}  // namespace

std::string AtbJsonToOnnxBytes(const nlohmann::json& topology, int target_level, const std::string& where) {
  try {
    return Converter(topology, target_level, where).Run();
  } catch (const json::exception& e) {  // a type check missed above: still the file's fault
    Fail(where, "{}", PlainJsonMessage(e.what()));
  }
}

std::string AtbJsonFileToOnnxBytes(const std::string& json_path, int target_level) {
  if (target_level < -1)
    Fail(json_path, "target level must be -1 (all leaves), 0 (the root as one node) or a depth >= 1, got {}",
         target_level);
  return AtbJsonToOnnxBytes(ParseTopologyFile(json_path), target_level, json_path);
}

std::string AtbJsonToOnnx(const std::string& json_path, int target_level) {
  std::string bytes = AtbJsonFileToOnnxBytes(json_path, target_level);
  std::string onnx_path = OnnxPathFor(json_path);
  WriteFileAtomically(onnx_path, [&](std::FILE* f) {
    if (std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())
      Fail(onnx_path, "write failed ({})", std::strerror(errno));
  });
  return onnx_path;
}

}  // namespace ait
