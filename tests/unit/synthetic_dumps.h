// Small synthetic dumps for the pairing tests: an ATB dump (tensor folders + model JSON, as
// the probe writes them) and a torch dump (module folders of torch.save files, model_tree.json,
// module_order.json, as the torch hook writes them), both shaped like a tiny Llama.
#pragma once

#include <zip.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ait/tensor_io.h"
#include "test_util.h"

namespace ait::testing {

namespace fs = std::filesystem;
using nlohmann::json;

// Tokens 0 (a prefill of 3 positions) and 1 (one position), as with a KV cache.
inline int64_t PositionsOf(const std::string& token) { return token == "0" ? 3 : 1; }

// A tensor shape: per-token activations get the token's positions in front ([T, c] on ATB,
// [1, T, c] on torch); weights keep their dims.
struct Shape {
  bool per_token = true;
  std::vector<int64_t> dims;
};
inline Shape Act(int64_t c) { return {true, {c}}; }
inline Shape Ids() { return {true, {}}; }
inline Shape W(std::vector<int64_t> dims) { return {false, std::move(dims)}; }

inline std::vector<int64_t> AtbDims(const Shape& s, const std::string& token) {
  std::vector<int64_t> d;
  if (s.per_token) d.push_back(PositionsOf(token));
  d.insert(d.end(), s.dims.begin(), s.dims.end());
  return d;
}
inline std::vector<int64_t> TorchDims(const Shape& s, const std::string& token) {
  std::vector<int64_t> d;
  if (s.per_token) d = {1, PositionsOf(token)};
  d.insert(d.end(), s.dims.begin(), s.dims.end());
  return d;
}

// --- torch.save files (zip + protocol-2 pickle of one float32 tensor) ---

inline std::string PickleLe32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}
// (Appending, not "J" + string: GCC 12 warns falsely about the latter, -Wrestrict.)
inline std::string PickleInt(int64_t v) {
  std::string out(1, 'J');
  out.append(PickleLe32(static_cast<uint32_t>(v)));
  return out;
}
inline std::string PickleStr(std::string_view s) {
  std::string out(1, 'X');
  out.append(PickleLe32(static_cast<uint32_t>(s.size())));
  out.append(s);
  return out;
}
inline std::string PickleGlobal(std::string_view m, std::string_view n) {
  return fmt::format("c{}\n{}\n", m, n);
}
inline std::string PickleTuple(const std::vector<std::string>& items) {
  std::string s = "(";
  for (const auto& i : items) s += i;
  return s + "t";
}

inline void WritePth(const std::string& path, const std::vector<int64_t>& shape, unsigned seed) {
  Tensor t = RandomFloat32(shape, seed);
  std::vector<std::string> sizes, strides;
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    sizes.insert(sizes.begin(), PickleInt(shape[i]));
    strides.insert(strides.begin(), PickleInt(stride));
    stride *= shape[i];
  }
  const std::string storage = PickleTuple({PickleStr("storage"), PickleGlobal("torch", "FloatStorage"), PickleStr("0"),
                                           PickleStr("cpu"), PickleInt(t.numel())}) + "Q";
  const std::string pkl = "\x80\x02" + PickleGlobal("torch._utils", "_rebuild_tensor_v2") +
                          PickleTuple({storage, PickleInt(0), PickleTuple(sizes), PickleTuple(strides), "\x89",
                                       PickleGlobal("collections", "OrderedDict") + ")R"}) +
                          "R.";
  const std::string data(reinterpret_cast<const char*>(t.data), t.nbytes);
  fs::create_directories(fs::path(path).parent_path());
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr) << path;
  const std::vector<std::pair<std::string, const std::string*>> entries = {
      {"archive/data.pkl", &pkl}, {"archive/data/0", &data}};
  static const std::string version = "3\n";
  for (const auto& [name, bytes] : entries) {
    zip_source_t* src = zip_source_buffer(z, bytes->data(), bytes->size(), 0);
    zip_int64_t idx = zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE);
    ASSERT_GE(idx, 0);
    zip_set_file_compression(z, idx, ZIP_CM_STORE, 0);
  }
  zip_source_t* src = zip_source_buffer(z, version.data(), version.size(), 0);
  ASSERT_GE(zip_file_add(z, "archive/version", src, ZIP_FL_OVERWRITE), 0);
  ASSERT_EQ(zip_close(z), 0);
}

// WriteTensor into a folder that may not exist yet.
inline void WriteBin(const fs::path& path, const Tensor& t) {
  fs::create_directories(path.parent_path());
  WriteTensor(path.string(), t);
}

inline void WriteText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// --- ATB dumps ---

struct AtbOp {
  std::string type;
  json param = json::object();
  std::vector<Shape> ins, outs;
  std::vector<AtbOp> children;  // a graph operation (layer) when not empty
  bool dumped = true;           // false: in the topology but without a tensor folder
  std::vector<std::string> in_names;  // the topology's inTensors (written when not empty)
};

inline AtbOp Leaf(std::string type, std::vector<Shape> ins, std::vector<Shape> outs, json param = json::object()) {
  return {std::move(type), std::move(param), std::move(ins), std::move(outs), {}};
}
inline AtbOp Linear(int64_t in, int64_t out, std::string type = "LinearOperation") {
  return Leaf(std::move(type), {Act(in), W({out, in})}, {Act(out)},
              {{"hasBias", false}, {"transposeA", false}, {"transposeB", true}});
}
inline AtbOp Elewise(int type, Shape a, Shape b) {
  Shape out = a;
  return Leaf("ElewiseOperation", {std::move(a), std::move(b)}, {out}, {{"elewiseType", type}});
}

constexpr int64_t kHidden = 8, kKv = 4, kInter = 12, kVocab = 16;

// The reference engine's Llama layer: RmsNorm, q, k, v, Rope, SelfAttention, o, add, RmsNorm,
// gate, up, Activation, mul, down, add.
inline std::vector<AtbOp> EngineLayerOps(const std::string& linear = "LinearOperation") {
  const int64_t h = kHidden, kv = kKv, i = kInter;
  return {Leaf("RmsNormOperation", {Act(h), W({h})}, {Act(h)}, {{"layerType", 1}}),
          Linear(h, h, linear),
          Linear(h, kv, linear),
          Linear(h, kv, linear),
          Leaf("RopeOperation", {Act(h), Act(kv)}, {Act(h), Act(kv)}, {{"rotaryCoeff", 2}}),
          Leaf("SelfAttentionOperation", {Act(h), Act(kv), Act(kv)}, {Act(h)}, {{"headNum", 2}}),
          Linear(h, h, linear),
          Elewise(8, Act(h), Act(h)),
          Leaf("RmsNormOperation", {Act(h), W({h})}, {Act(h)}, {{"layerType", 1}}),
          Linear(h, i, linear),
          Linear(h, i, linear),
          Leaf("ActivationOperation", {Act(i)}, {Act(i)}, {{"activationType", 4}}),
          Elewise(9, Act(i), Act(i)),
          Linear(i, h, linear),
          Elewise(8, Act(h), Act(h))};
}

inline std::vector<AtbOp> EngineModel(int layers, const std::vector<AtbOp>& layer_ops) {
  std::vector<AtbOp> top = {Leaf("GatherOperation", {W({kVocab, kHidden}), Ids()}, {Act(kHidden)}, {{"axis", 0}})};
  for (int l = 0; l < layers; ++l) {
    AtbOp layer{"LlamaLayer", {{"layerId", l}}, {Act(kHidden), W({kHidden})}, {Act(kHidden)}, layer_ops};
    top.push_back(layer);
  }
  top.push_back(Leaf("RmsNormOperation", {Act(kHidden), W({kHidden})}, {Act(kHidden)}, {{"layerType", 1}}));
  top.push_back(Linear(kHidden, kVocab));
  return top;
}

// Writes {root}/ait_dump/tensors/{dev}_{pid}/{token}/... for every token and, if `with_json`,
// {root}/ait_dump/model/{pid}/LlamaModel.json. With `kernels`, leaf operations get a kernel
// folder and an op_param.json too, as the probe writes them (more files: slower to write).
inline void WriteAtbDump(const fs::path& root, const std::vector<AtbOp>& top, bool with_json = true,
                         const std::vector<std::string>& tokens = {"0"}, const std::string& pid = "4242",
                         bool kernels = false) {
  const fs::path proc = root / "ait_dump" / "tensors" / ("0_" + pid);
  unsigned seed = 1;
  std::function<void(const AtbOp&, const fs::path&, const std::string&)> write = [&](const AtbOp& op, const fs::path& dir,
                                                                                     const std::string& token) {
    if (!op.dumped) return;
    for (size_t k = 0; k < op.ins.size(); ++k)
      WriteBin(dir / "after" / ("intensor" + std::to_string(k) + ".bin"), RandomFloat32(AtbDims(op.ins[k], token), seed++));
    for (size_t k = 0; k < op.outs.size(); ++k)
      WriteBin(dir / "after" / ("outtensor" + std::to_string(k) + ".bin"), RandomFloat32(AtbDims(op.outs[k], token), seed++));
    if (kernels) {
      WriteText(dir / "op_param.json", op.param.dump() + "\n");
      if (op.children.empty())  // a kernel below the leaf operation
        WriteBin(dir / "0_Kernel" / "after" / "outtensor0.bin", RandomFloat32(AtbDims(op.outs[0], token), seed++));
    }
    for (size_t c = 0; c < op.children.size(); ++c)
      write(op.children[c], dir / (std::to_string(c) + "_" + op.children[c].type), token);
  };
  for (const auto& token : tokens)
    for (size_t i = 0; i < top.size(); ++i) write(top[i], proc / token / (std::to_string(i) + "_" + top[i].type), token);
  if (!with_json) return;
  std::function<json(const AtbOp&, const std::string&)> node = [&](const AtbOp& op, const std::string& ids) {
    json j = {{"opName", op.type + "_" + ids}, {"opType", op.type},
              {"param", op.param}};
    if (!op.in_names.empty()) j["inTensors"] = op.in_names;
    if (!op.children.empty()) {
      j["nodes"] = json::array();
      for (size_t c = 0; c < op.children.size(); ++c) j["nodes"].push_back(node(op.children[c], ids + "_" + std::to_string(c)));
    }
    return j;
  };
  json model = {{"modelName", "LlamaModel"}, {"nodes", json::array()}};
  for (size_t i = 0; i < top.size(); ++i) model["nodes"].push_back(node(top[i], std::to_string(i)));
  WriteText(root / "ait_dump" / "model" / pid / "LlamaModel.json", model.dump() + "\n");
}

// --- torch dumps ---

struct TorchModule {
  std::string name;  // full dotted name from "root"
  std::string type;
  std::vector<Shape> ins, outs;  // no outs: the module's output is not a tensor (nothing saved)
  bool tuple_out = false;        // output_0.pth ... instead of output.pth
  bool dumped = true;
};

// Hugging Face's LlamaDecoderLayer `i` in registration order.
inline std::vector<TorchModule> HfLayer(int i) {
  const std::string p = "root.model.layers." + std::to_string(i);
  const int64_t h = kHidden, kv = kKv, n = kInter;
  return {{p, "LlamaDecoderLayer", {Act(h)}, {Act(h)}, true},
          {p + ".self_attn", "LlamaAttention", {}, {Act(h)}, true},
          {p + ".self_attn.q_proj", "Linear", {Act(h)}, {Act(h)}},
          {p + ".self_attn.k_proj", "Linear", {Act(h)}, {Act(kv)}},
          {p + ".self_attn.v_proj", "Linear", {Act(h)}, {Act(kv)}},
          {p + ".self_attn.o_proj", "Linear", {Act(h)}, {Act(h)}},
          {p + ".mlp", "LlamaMLP", {Act(h)}, {Act(h)}},
          {p + ".mlp.gate_proj", "Linear", {Act(h)}, {Act(n)}},
          {p + ".mlp.up_proj", "Linear", {Act(h)}, {Act(n)}},
          {p + ".mlp.down_proj", "Linear", {Act(n)}, {Act(h)}},
          {p + ".mlp.act_fn", "SiLU", {Act(n)}, {Act(n)}},
          {p + ".input_layernorm", "LlamaRMSNorm", {Act(h)}, {Act(h)}},
          {p + ".post_attention_layernorm", "LlamaRMSNorm", {Act(h)}, {Act(h)}}};
}

// Execution (forward completion) order of HfLayer(i).
inline std::vector<std::string> HfLayerOrder(int i) {
  const std::string p = "root.model.layers." + std::to_string(i);
  return {p + ".input_layernorm", p + ".self_attn.q_proj", p + ".self_attn.k_proj", p + ".self_attn.v_proj",
          p + ".self_attn.o_proj", p + ".self_attn", p + ".post_attention_layernorm", p + ".mlp.gate_proj",
          p + ".mlp.act_fn", p + ".mlp.up_proj", p + ".mlp.down_proj", p + ".mlp", p};
}

inline std::vector<TorchModule> HfModel(int layers) {
  std::vector<TorchModule> m = {{"root", "LlamaForCausalLM", {}, {}},
                                {"root.model", "LlamaModel", {}, {}},
                                {"root.model.embed_tokens", "Embedding", {Ids()}, {Act(kHidden)}},
                                {"root.model.layers", "ModuleList", {}, {}, false, false}};
  for (int i = 0; i < layers; ++i)
    for (auto& mod : HfLayer(i)) m.push_back(mod);
  m.push_back({"root.model.norm", "LlamaRMSNorm", {Act(kHidden)}, {Act(kHidden)}});
  m.push_back({"root.model.rotary_emb", "LlamaRotaryEmbedding", {Act(kHidden)}, {Act(2), Act(2)}, true});
  m.push_back({"root.lm_head", "Linear", {Act(kHidden)}, {Act(kVocab)}});
  return m;
}

inline std::vector<std::string> HfModelOrder(int layers) {
  std::vector<std::string> o = {"root.model.embed_tokens", "root.model.rotary_emb"};
  for (int i = 0; i < layers; ++i)
    for (auto& n : HfLayerOrder(i)) o.push_back(n);
  for (const char* n : {"root.model.norm", "root.model", "root.lm_head", "root"}) o.push_back(n);
  return o;
}

// Writes {root}/ait_dump/torch_tensors/cpu_{pid}/: model_tree.json (registration order = the
// order of `modules`, hierarchy from the dotted names) and, per token, the module folders and
// module_order.json (when `order` is not empty).
inline fs::path WriteTorchDump(const fs::path& root, const std::vector<TorchModule>& modules,
                               const std::vector<std::string>& order, const std::vector<std::string>& tokens = {"0"},
                               const std::string& device_pid = "cpu_777") {
  const fs::path proc = root / "ait_dump" / "torch_tensors" / device_pid;
  unsigned seed = 1000;
  for (const auto& token : tokens) {
    for (const auto& m : modules) {
      if (!m.dumped || (m.ins.empty() && m.outs.empty())) continue;
      const fs::path dir = proc / token / m.name;
      for (size_t k = 0; k < m.ins.size(); ++k)
        WritePth((dir / ("input_" + std::to_string(k) + ".pth")).string(), TorchDims(m.ins[k], token), seed++);
      for (size_t k = 0; k < m.outs.size(); ++k) {
        std::string stem = m.tuple_out ? "output_" + std::to_string(k) : "output";
        WritePth((dir / (stem + ".pth")).string(), TorchDims(m.outs[k], token), seed++);
      }
    }
    if (!order.empty()) {
      json o = json::array();
      std::map<std::string, std::string> types;
      for (const auto& m : modules) types[m.name] = m.type;
      for (const auto& n : order) o.push_back({{"name", n}, {"type", types[n]}});
      WriteText(proc / token / "module_order.json", o.dump());
    }
  }
  // model_tree.json: children in the order the modules are listed.
  std::function<json(const std::string&)> tree = [&](const std::string& name) {
    json j = {{"name", name}, {"type", ""}, {"children", json::array()}};
    for (const auto& m : modules) {
      if (m.name == name) j["type"] = m.type;
      if (m.name.size() > name.size() + 1 && m.name.starts_with(name + ".") &&
          m.name.find('.', name.size() + 1) == std::string::npos)
        j["children"].push_back(tree(m.name));
    }
    return j;
  };
  WriteText(proc / "model_tree.json", tree("root").dump());
  return proc;
}

}  // namespace ait::testing
