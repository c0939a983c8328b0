// Strategy "ggml-torch": a llama.cpp (ggml) dump written by libait_ggml_dump (ATB's layout,
// its model JSON named AIT_GGML_MODEL_NAME) against a torch dump with its model_tree.json,
// either way round (docs/LLAMA_CPP.md, docs/COMPARE_PAIRING.md):
//  1. layers by number: ggml's `name-N` nodes with the N-th layer module;
//  2. nodes to modules by a table for Llama (`attn_norm-N` ~ `layers.N.input_layernorm`,
//     `ffn_out-N` ~ `layers.N.mlp`, ...), which `-mf` entries extend or override;
//  3. what is left, by the type + size alignment of the atb-torch strategy.
// Layout that is only layout: ggml's dimensions are written slowest first, so a [64, 5]
// tensor is [5, 64] and compares with [1, 5, 64] element for element; Q and K projections of a
// GGUF Llama hold their rotary pairs interleaved, which the pair's layout undoes.
#include <algorithm>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "ait/ggml_dump.h"
#include "ait/tensor_layout.h"
#include "compare/pairing/linked_pairing.h"
#include "compare/pairing/op_alignment.h"

namespace ait {
namespace {

using topo::DumpTree;
using topo::FilePair;
using topo::Link;
using topo::Links;

// A ggml node name stem and the module it stands for: the module's last name component
// ("" = the layer module itself), the torch file when not the outputs, and whether the
// tensor holds Q or K heads in GGUF's interleaved rope order.
struct TableEntry {
  std::string stem, module, file;
  bool rope_interleaved = false;
};

// Llama, as llama.cpp names its graph (src/llama-model.cpp, llm_build_llama) and Hugging Face
// its modules. Names without a layer number stand outside the layers.
const std::vector<TableEntry>& LlamaTable() {
  static const std::vector<TableEntry> table = {
      {"embd", "embed_tokens", "", false},
      {"inp_embd", "embed_tokens", "", false},
      {"attn_norm", "input_layernorm", "", false},
      {"Qcur", "q_proj", "", true},
      {"Kcur", "k_proj", "", true},
      {"Vcur", "v_proj", "", false},
      {"kqv_out", "o_proj", "input_0", false},
      {"attn_out", "self_attn", "", false},
      {"ffn_norm", "post_attention_layernorm", "", false},
      {"ffn_gate", "gate_proj", "", false},
      {"ffn_up", "up_proj", "", false},
      {"ffn_swiglu", "down_proj", "input_0", false},
      {"ffn_out", "mlp", "", false},
      {"l_out", "", "", false},
      {"result_norm", "norm", "", false},
      {"result_output", "lm_head", "", false},
  };
  return table;
}

bool IsBuiltinCustom(const std::string& key) {
  static const OpMapping builtin = BuiltinOpMapping();
  return std::any_of(builtin.custom.begin(), builtin.custom.end(), [&](const auto& e) { return e.first == key; });
}

// A `-mf` value for this strategy: a module's last name component or its class, with an
// optional torch file ("down_proj_input_0" -> "down_proj", "input_0").
std::pair<std::string, std::string> SplitModuleFile(const std::string& value) {
  for (const char* marker : {"_input", "_output"}) {
    const size_t at = value.rfind(marker);
    if (at == std::string::npos || at == 0) continue;
    const std::string file = value.substr(at + 1);
    const std::string rest = file.substr(file.find('_') == std::string::npos ? file.size() : file.find('_'));
    const bool index_ok = rest.empty() || (rest.size() > 1 && std::all_of(rest.begin() + 1, rest.end(), ::isdigit));
    if (index_ok) return {value.substr(0, at), file};
  }
  return {value, ""};
}

// The table: Llama's, then the user's `-mf` entries (not the ATB built-ins), which replace an
// entry of the same stem.
std::vector<TableEntry> Table(const OpMapping& mapping) {
  std::vector<TableEntry> table = LlamaTable();
  for (const auto& [key, values] : mapping.custom) {
    if (IsBuiltinCustom(key) || values.empty()) continue;
    std::erase_if(table, [&k = key](const TableEntry& e) { return e.stem == k; });  // clang 14: no binding captures
    auto [module, file] = SplitModuleFile(values.front());
    table.push_back({key, module, file, false});
  }
  return table;
}

std::string LastComponent(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

int ParamInt(const topo::Node& n, const char* key, int fallback) {
  if (!n.param.is_object()) return fallback;
  auto it = n.param.find(key);
  return it != n.param.end() && it->is_number_integer() ? it->get<int>() : fallback;
}

std::string ParamName(const topo::Node& n) {
  if (n.param.is_object())
    if (auto it = n.param.find("name"); it != n.param.end() && it->is_string()) return it->get<std::string>();
  return n.name;
}

// The name's stem: "attn_norm-3" -> "attn_norm"; names of views ("Qcur-0 (reshaped)") have none.
std::string Stem(const std::string& name, int layer) {
  if (name.find(" (") != std::string::npos) return "";
  if (layer < 0) return name;
  const std::string suffix = "-" + std::to_string(layer);
  return name.ends_with(suffix) ? name.substr(0, name.size() - suffix.size()) : "";
}

// ggml ops that only view, copy or store a tensor: never aligned with a module.
bool IsDataMovement(const std::string& op) {
  static const char* const kOps[] = {"NONE", "VIEW", "RESHAPE", "PERMUTE", "TRANSPOSE", "CONT", "CPY", "DUP", "SET_ROWS"};
  return std::any_of(std::begin(kOps), std::end(kOps), [&](const char* o) { return op == o; });
}

class GgmlTorchLinker {
 public:
  GgmlTorchLinker(const DumpTree& ggml, std::string ggml_token, const DumpTree& torch, std::string torch_token,
                  const OpMapping& mapping, bool ggml_is_my, Links* links, std::vector<std::string>* notes)
      : ggml_(ggml), torch_(torch), ggml_token_(std::move(ggml_token)), torch_token_(std::move(torch_token)),
        mapping_(mapping), ggml_is_my_(ggml_is_my), links_(*links), notes_(*notes) {}

  void Run() {
    const std::vector<int> layers = topo::DetectLayers(torch_);
    int64_t ggml_layers = 0;  // int64: "layer" may be INT_MAX
    for (size_t i = 1; i < ggml_.nodes().size(); ++i)
      ggml_layers = std::max<int64_t>(ggml_layers, int64_t{Layer(static_cast<int>(i))} + 1);
    if (static_cast<size_t>(ggml_layers) != layers.size())
      notes_.push_back(fmt::format("the ggml graph has {} layers, the torch dump {}: layers were paired by number up to {}",
                                   ggml_layers, layers.size(), std::min<size_t>(ggml_layers, layers.size())));
    // 1 + 2: the table, layer by layer (names without a number outside the layers).
    const std::vector<TableEntry> table = Table(mapping_);
    size_t candidates = 0, tabled = 0;
    std::map<std::string, int> seen;  // a name's first node only: Qcur-0's projection, not its rope
    std::vector<std::string> missing;
    for (int g : ggml_.ExecutionOrder(ggml_token_)) {
      const topo::Node& n = ggml_.node(g);
      const std::string name = ParamName(n);
      const int layer = Layer(g);
      const std::string stem = Stem(name, layer);
      if (stem.empty() || seen[name]++ > 0) continue;
      auto entry = std::find_if(table.begin(), table.end(), [&](const TableEntry& e) { return e.stem == stem; });
      if (entry == table.end()) continue;
      ++candidates;
      const int scope = layer < 0 ? -1 : static_cast<size_t>(layer) < layers.size() ? layers[static_cast<size_t>(layer)] : -2;
      const int t = scope == -2 ? -1 : FindModule(*entry, scope, layers);
      if (t < 0) {
        if (missing.size() < 5) missing.push_back(name);
        continue;
      }
      std::string layout;
      if (entry->rope_interleaved) {
        const int head_dim = HeadDim(g);
        if (head_dim > 0) layout = RopeInterleavedLayout(head_dim);
        else notes_.push_back(fmt::format("{}: no reshape into heads follows it; compared in GGUF's interleaved order", name));
      }
      if (Add(g, t, "mapped", entry->file, layout)) ++tabled;
    }
    notes_.push_back(fmt::format("ggml nodes named in the Llama table (with -mf entries): {}, paired with a module: {}",
                                 candidates, tabled));
    if (!missing.empty())
      notes_.push_back(fmt::format("no module found for ggml node(s) {}", fmt::join(missing, ", ")));
    // 3: the alignment, inside each layer and outside them.
    for (size_t i = 0; i < layers.size(); ++i) Align(static_cast<int>(i), layers[i], layers);
    Align(-1, -1, layers);
  }

 private:
  const DumpTree& ggml_;
  const DumpTree& torch_;
  std::string ggml_token_, torch_token_;
  const OpMapping& mapping_;
  bool ggml_is_my_;
  Links& links_;
  std::vector<std::string>& notes_;

  int Layer(int g) const { return ParamInt(ggml_.node(g), "layer", -1); }
  bool GgmlLinked(int g) const { return ggml_is_my_ ? links_.MyLinked(g) : links_.GoldenLinked(g); }
  bool TorchLinked(int t) const { return ggml_is_my_ ? links_.GoldenLinked(t) : links_.MyLinked(t); }

  bool InsideAnyLayer(int t, const std::vector<int>& layers) const {
    return std::any_of(layers.begin(), layers.end(), [&](int l) { return torch_.IsInside(t, l); });
  }

  // The module of `entry` inside layer node `scope` (-1: outside every layer): its last name
  // component or class equals entry.module; "" is the layer itself.
  int FindModule(const TableEntry& entry, int scope, const std::vector<int>& layers) const {
    if (entry.module.empty()) return scope;
    for (size_t t = 1; t < torch_.nodes().size(); ++t) {
      const int ti = static_cast<int>(t);
      const bool in_scope = scope >= 0 ? torch_.IsInside(ti, scope) : !InsideAnyLayer(ti, layers);
      if (!in_scope || TorchLinked(ti)) continue;
      const topo::Node& n = torch_.node(ti);
      if (LastComponent(n.name) == entry.module || n.type == entry.module) return ti;
    }
    return -1;
  }

  // The head size of Q or K node g: the first dimension of the reshape that splits it into heads.
  int HeadDim(int g) const {
    const int index = ParamInt(ggml_.node(g), "index", -1);
    for (size_t j = static_cast<size_t>(g) + 1; j < ggml_.nodes().size(); ++j) {
      const topo::Node& n = ggml_.node(static_cast<int>(j));
      if (n.type != "RESHAPE" || !n.param.is_object()) continue;
      auto src = n.param.find("sources");
      if (src == n.param.end() || !src->is_array() || src->empty() || !(*src)[0].is_object()) continue;
      auto node = (*src)[0].find("node");
      if (node == (*src)[0].end() || !node->is_number_integer() || node->get<int>() != index) continue;
      auto ne = n.param.find("ne");
      if (ne != n.param.end() && ne->is_array() && !ne->empty() && (*ne)[0].is_number_integer()) return (*ne)[0].get<int>();
    }
    return -1;
  }

  bool Add(int g, int t, const std::string& match, const std::string& torch_file = "", const std::string& layout = "") {
    if (GgmlLinked(g) || TorchLinked(t)) return false;
    Link l;
    l.match = match;
    if (ggml_is_my_) {
      l.my = g, l.golden = t, l.golden_file = torch_file, l.my_layout = layout;
    } else {
      l.my = t, l.golden = g, l.my_file = torch_file, l.golden_layout = layout;
    }
    return links_.Add(std::move(l));
  }

  // Unpaired computing nodes of ggml layer `layer` (-1: outside the layers) against the
  // unpaired leaf modules of `scope`, in order, by family and element count.
  void Align(int layer, int scope, const std::vector<int>& layers) {
    std::vector<int> G, T;
    for (int g : ggml_.ExecutionOrder(ggml_token_))
      if (Layer(g) == layer && !GgmlLinked(g) && !IsDataMovement(ggml_.node(g).type) &&
          ParamName(ggml_.node(g)).find(" (") == std::string::npos)
        G.push_back(g);
    for (int t : torch_.ExecutionOrder(torch_token_)) {
      const bool in_scope = scope >= 0 ? torch_.IsInside(t, scope) : !InsideAnyLayer(t, layers);
      if (in_scope && torch_.IsLeaf(t) && !TorchLinked(t)) T.push_back(t);
    }
    if (G.empty() || T.empty()) return;
    std::vector<int64_t> ng, nt;
    std::vector<int> fg, ft;
    for (int g : G) ng.push_back(ggml_.OutputNumel(g, ggml_token_)), fg.push_back(topo::AtbFamily(ggml_.node(g).type));
    for (int t : T) nt.push_back(torch_.OutputNumel(t, torch_token_)), ft.push_back(topo::TorchFamily(torch_.node(t).type));
    auto pairs = topo::AlignSequences(fg, ft, [&](size_t i, size_t j) {
      return ng[i] >= 0 && ng[i] == nt[j] && topo::AtbTorchTypesCompatible(ggml_.node(G[i]).type, torch_.node(T[j]).type, mapping_);
    });
    for (auto [i, j] : pairs) Add(G[i], T[j], "aligned");
  }
};

// The tensor files of the links, read from the ggml graph itself. A node's inputs are the
// outputs of the nodes its own computation starts from: going back from the node through its
// sources, an unlinked source used by nothing else is part of the computation (`norm-N`, the
// RMS_NORM before `attn_norm-N`'s MUL; the views and rope between `Qcur-N` and the attention);
// a linked source, or one also used elsewhere (the residual stream), is an input. A source
// read from the KV cache counts the nodes that wrote the cache (SET_ROWS, CPY) as its
// sources. The golden side of an input is its link's counterpart; an unlinked input (the
// residual sum `ffn_inp-N`) takes the module input of its size of a link for which it comes
// from outside the module (`post_attention_layernorm`'s input_0), else it is left out. These
// files are the nodes' own outputs, so an outputs-only dump has inputs too.
class GgmlFiles {
 public:
  GgmlFiles(const DumpTree& ggml, const DumpTree& torch, const Links& links, bool ggml_is_my,
            const std::string& ggml_token, const std::string& torch_token)
      : ggml_(ggml), torch_(torch), links_(links), ggml_is_my_(ggml_is_my), sources_(ggml.nodes().size()),
        consumers_(ggml.nodes().size()) {
    ReadEdges();
    // Unlinked inputs that come into a module from outside: the module input of their size.
    for (size_t i = 1; i < ggml.nodes().size(); ++i) {
      const int g = static_cast<int>(i);
      const Link* l = LinkOf(g);
      if (!l) continue;
      const int t = TorchOf(*l);
      const std::vector<topo::TensorFile> module_inputs = torch_.Inputs(t, torch_token);
      std::vector<char> used(module_inputs.size(), 0);
      frontiers_[g] = Frontier(g);  // a link's inputs, the same for every token
      for (int s : frontiers_[g]) {
        if (LinkOf(s) || unlinked_golden_.count(s) || !External(s, t)) continue;
        const std::vector<topo::TensorFile> files = ggml_.Outputs(s, ggml_token);
        const int64_t count = files.empty() ? -1 : ggml_.Numel(files.front().path);
        for (size_t k = 0; k < module_inputs.size(); ++k) {
          if (used[k] || count < 0 || torch_.Numel(module_inputs[k].path) != count) continue;
          used[k] = 1;
          unlinked_golden_[s] = {t, module_inputs[k].stem};
          break;
        }
      }
    }
  }

  std::vector<FilePair> Inputs(int g, const std::string& g_token, const std::string& t_token) const {
    std::vector<FilePair> out;
    auto frontier = frontiers_.find(g);
    if (frontier == frontiers_.end()) return out;
    for (int s : frontier->second) {
      const std::vector<topo::TensorFile> files = ggml_.Outputs(s, g_token);
      if (files.empty()) continue;  // not written
      if (const Link* ls = LinkOf(s)) {
        std::vector<FilePair> counterpart = Outputs(*ls, g_token, t_token);
        if (!counterpart.empty()) out.push_back(counterpart.front());
        continue;
      }
      auto it = unlinked_golden_.find(s);
      if (it == unlinked_golden_.end()) continue;
      const std::vector<topo::TensorFile> golden = torch_.NamedFile(it->second.first, t_token, it->second.second);
      if (golden.empty()) continue;
      out.push_back(ggml_is_my_ ? FilePair{files.front(), golden.front()} : FilePair{golden.front(), files.front()});
    }
    return out;
  }

  // The output files of link `l`, with the layout of its ggml side.
  std::vector<FilePair> Outputs(const Link& l, const std::string& g_token, const std::string& t_token) const {
    const DumpTree& my = ggml_is_my_ ? ggml_ : torch_;
    const DumpTree& golden = ggml_is_my_ ? torch_ : ggml_;
    const std::string& my_token = ggml_is_my_ ? g_token : t_token;
    const std::string& golden_token = ggml_is_my_ ? t_token : g_token;
    std::vector<FilePair> out = topo::AtbTorchOutputs(my, golden, l, l.my, my_token, l.golden, golden_token);
    for (FilePair& f : out) f.my_layout = l.my_layout, f.golden_layout = l.golden_layout;
    return out;
  }

 private:
  const DumpTree& ggml_;
  const DumpTree& torch_;
  const Links& links_;
  bool ggml_is_my_;
  std::vector<std::vector<int>> sources_, consumers_;  // by tree node: graph nodes only
  std::map<int, std::pair<int, std::string>> unlinked_golden_;  // ggml node -> (module, input stem)
  std::map<int, std::vector<int>> frontiers_;                   // linked ggml node -> Frontier()

  const Link* LinkOf(int g) const { return ggml_is_my_ ? links_.OfMy(g) : links_.OfGolden(g); }
  int TorchOf(const Link& l) const { return ggml_is_my_ ? l.golden : l.my; }

  // Sources from the topology's "sources" (node indices), and the cache edges: a leaf source
  // that earlier SET_ROWS / CPY nodes wrote into (their output views it: "view_of") was
  // written by them.
  void ReadEdges() {
    const size_t n = ggml_.nodes().size();
    std::map<int, int> by_index;                      // graph index -> tree node
    std::map<std::string, std::vector<int>> writers;  // leaf name -> the nodes that wrote into it so far
    for (size_t i = 1; i < n; ++i) by_index[ParamInt(ggml_.node(static_cast<int>(i)), "index", -1)] = static_cast<int>(i);
    auto add = [&](size_t i, int s) {
      if (s <= 0 || s >= static_cast<int>(i)) return;  // a source comes before its consumer
      if (std::find(sources_[i].begin(), sources_[i].end(), s) != sources_[i].end()) return;
      sources_[i].push_back(s);
      consumers_[static_cast<size_t>(s)].push_back(static_cast<int>(i));
    };
    for (size_t i = 1; i < n; ++i) {
      const topo::Node& node = ggml_.node(static_cast<int>(i));
      const nlohmann::json& p = node.param;
      auto src = p.is_object() ? p.find("sources") : p.end();
      if (!p.is_object() || src == p.end() || !src->is_array()) continue;
      if (node.type == "SET_ROWS" || node.type == "CPY")
        if (auto v = p.find("view_of"); v != p.end() && v->is_string() && !v->get<std::string>().empty())
          writers[v->get<std::string>()].push_back(static_cast<int>(i));
      for (const nlohmann::json& s : *src) {
        if (!s.is_object()) continue;
        auto index = s.find("node");
        auto name = s.find("name");
        if (index == s.end() || !index->is_number_integer()) continue;
        if (index->get<int>() >= 0) {
          auto it = by_index.find(index->get<int>());
          if (it != by_index.end()) add(i, it->second);
        } else if (name != s.end() && name->is_string()) {
          if (auto w = writers.find(name->get<std::string>()); w != writers.end())
            for (int writer : w->second) add(i, writer);
        }
      }
    }
  }

  // The nodes whose outputs are node g's inputs (see the class comment), in graph order.
  std::vector<int> Frontier(int g) const {
    std::vector<char> inside(ggml_.nodes().size(), 0), needed(ggml_.nodes().size(), 0);
    std::vector<int> frontier;
    inside[static_cast<size_t>(g)] = 1;
    for (int s : sources_[static_cast<size_t>(g)]) needed[static_cast<size_t>(s)] = 1;
    for (int j = g - 1; j >= 1; --j) {  // graph order is topological: consumers come after
      if (!needed[static_cast<size_t>(j)]) continue;
      const auto& users = consumers_[static_cast<size_t>(j)];
      const bool in = !LinkOf(j) && std::all_of(users.begin(), users.end(),
                                                [&](int u) { return inside[static_cast<size_t>(u)] != 0; });
      if (!in) {
        frontier.push_back(j);
        continue;
      }
      inside[static_cast<size_t>(j)] = 1;
      for (int s : sources_[static_cast<size_t>(j)]) needed[static_cast<size_t>(s)] = 1;
    }
    std::reverse(frontier.begin(), frontier.end());
    return frontier;
  }

  // Whether unlinked node s comes into module t from outside: no linked node it is computed
  // from (back through unlinked nodes) is linked to a module inside t.
  bool External(int s, int t) const {
    std::vector<char> seen(ggml_.nodes().size(), 0);
    std::vector<int> stack = {s};
    while (!stack.empty()) {
      const int j = stack.back();
      stack.pop_back();
      for (int src : sources_[static_cast<size_t>(j)]) {
        if (seen[static_cast<size_t>(src)]++) continue;
        if (const Link* l = LinkOf(src)) {
          if (torch_.IsInside(TorchOf(*l), t)) return false;
        } else {
          stack.push_back(src);
        }
      }
    }
    return true;
  }
};

class GgmlTorch final : public PairingStrategy {
 public:
  std::string_view name() const override { return "ggml-torch"; }
  std::string_view summary() const override {
    return "llama.cpp (ggml) dump vs torch dump (model_tree.json), either way round: layers by number, node names to "
           "modules by a Llama table (-mf), then type + size alignment";
  }

  Recognition Recognize(DumpPair& dumps) const override {
    const DumpLocation *g, *m;
    if (Recognition r = topo::LocateBoth(dumps, &g, &m); !r.accepted()) return r;
    auto is_ggml = [](const DumpLocation& d) {
      return d.kind == DumpKind::kAtb && d.topology.stem() == AIT_GGML_MODEL_NAME;
    };
    if (!is_ggml(*g) && !is_ggml(*m)) return Recognition::Decline("neither is a ggml dump (no " AIT_GGML_MODEL_NAME ".json)");
    const DumpLocation& ggml = is_ggml(*m) ? *m : *g;
    const DumpLocation& other = is_ggml(*m) ? *g : *m;
    if (other.kind != DumpKind::kTorch)
      return Recognition::Decline(fmt::format("{}: a ggml dump pairs by topology with a torch dump only",
                                              ggml.process_dir.string()));
    if (other.topology.empty())
      return Recognition::Block(fmt::format("{}: the torch dump has no model_tree.json: module names are needed to pair "
                                            "modules with ggml nodes",
                                            other.process_dir.string()));
    topo::LinkedDumps linked;
    return topo::LoadLinkedDumps(dumps, &linked);
  }

  OpPairing Pair(DumpPair& dumps) const override {
    const topo::LinkedDumps linked = topo::LoadLinkedDumps(dumps);
    const DumpTree& my = *linked.my;
    const DumpTree& golden = *linked.golden;
    const bool ggml_is_my = my.kind() == DumpKind::kAtb;
    std::vector<std::string> notes = linked.Notes();
    Links links(my.nodes().size(), golden.nodes().size());
    const auto& [my_token, golden_token] = linked.tokens.front();  // structure is read from the first token
    if (ggml_is_my)
      GgmlTorchLinker(my, my_token, golden, golden_token, dumps.mapping(), true, &links, &notes).Run();
    else
      GgmlTorchLinker(golden, golden_token, my, my_token, dumps.mapping(), false, &links, &notes).Run();
    topo::LinkedPairingRules rules;
    rules.strategy = ggml_is_my ? "ggml graph vs torch model (node names + alignment)"
                                : "torch model vs ggml graph (node names + alignment)";
    const GgmlFiles files(ggml_is_my ? my : golden, ggml_is_my ? golden : my, links, ggml_is_my,
                          ggml_is_my ? my_token : golden_token, ggml_is_my ? golden_token : my_token);
    rules.inputs = [&](int m, int g, const Link&, const std::string& mt, const std::string& gt) {
      return ggml_is_my ? files.Inputs(m, mt, gt) : files.Inputs(g, gt, mt);
    };
    rules.outputs = [&](int, int, const Link& l, const std::string& mt, const std::string& gt) {
      return ggml_is_my ? files.Outputs(l, mt, gt) : files.Outputs(l, gt, mt);
    };
    return topo::AssembleLinkedPairing(linked, links, rules, std::move(notes));
  }
};

}  // namespace

const PairingStrategy& GgmlTorchStrategy() {
  static const GgmlTorch strategy;
  return strategy;
}

}  // namespace ait
