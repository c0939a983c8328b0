// Topology pairing: decides the scenario from what the two dumps hold, pairs their
// operations once (structure), then lists each pair's tensor files token by token.
#include "ait/topology_pairing.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "ait/error.h"
#include "compare/dump_topology.h"
#include "compare/op_alignment.h"

namespace ait {
namespace fs = std::filesystem;
namespace {

using topo::AlignSequences;
using topo::DetectLayers;
using topo::DumpTree;
using topo::TensorFile;

enum class Scenario { kAtbTorch, kAtbAtb, kTorchTorch };

// A structural pair of nodes, made once and applied to every token.
struct Link {
  int my = -1, golden = -1;
  std::string match;
  int my_outputs_of = -1, golden_outputs_of = -1;  // Linear + bias: the add's outputs instead
  std::string my_file, golden_file;                // named by a custom map entry; "" = all by index
};

// The links made so far; a node is linked at most once on each side.
class Links {
 public:
  Links(size_t my_nodes, size_t golden_nodes) : my_(my_nodes, -1), golden_(golden_nodes, -1) {}
  bool MyLinked(int n) const { return my_[static_cast<size_t>(n)] >= 0; }
  bool GoldenLinked(int n) const { return golden_[static_cast<size_t>(n)] >= 0; }
  bool Add(Link l) {
    if (MyLinked(l.my) || GoldenLinked(l.golden)) return false;
    my_[static_cast<size_t>(l.my)] = golden_[static_cast<size_t>(l.golden)] = static_cast<int>(links_.size());
    links_.push_back(std::move(l));
    return true;
  }
  const Link* OfMy(int n) const { return my_[static_cast<size_t>(n)] < 0 ? nullptr : &links_[my_[static_cast<size_t>(n)]]; }
  size_t size() const { return links_.size(); }
  const Link& operator[](size_t i) const { return links_[i]; }

 private:
  std::vector<int> my_, golden_;
  std::vector<Link> links_;
};

bool IsBuiltinCustom(const std::string& key, const std::vector<std::string>& values) {
  static const OpMapping builtin = BuiltinOpMapping();
  for (const auto& [k, v] : builtin.custom)
    if (k == key && v == values) return true;
  return false;
}

std::string CountsByType(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [type, n] : counts) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, type.empty() ? "(no type)" : type);
  return out;
}

// --- ATB vs torch (7.3 and beyond) ---------------------------------------------------------

class AtbTorchLinker {
 public:
  AtbTorchLinker(const DumpTree& atb, std::string atb_token, const DumpTree& torch, std::string torch_token,
                 const OpMapping& mapping, bool atb_is_my, Links* links, std::vector<std::string>* notes)
      : atb_(atb), torch_(torch), atb_token_(std::move(atb_token)), torch_token_(std::move(torch_token)),
        mapping_(mapping), atb_is_my_(atb_is_my), links_(*links), notes_(*notes) {}

  void Run() {
    std::string type_a, type_t;
    std::vector<int> la = DetectLayers(atb_, &type_a), lt = DetectLayers(torch_, &type_t);
    if (la.empty() || lt.empty()) {
      notes_.push_back(fmt::format("no layers found in the {} dump: its operations were paired as one sequence",
                                   la.empty() ? "ATB" : "torch"));
      la.clear();
      lt.clear();
    } else if (la.size() != lt.size()) {
      notes_.push_back(fmt::format("the ATB dump has {} layers ({}), the torch dump {} ({}): the first {} were paired in order",
                                   la.size(), type_a, lt.size(), type_t, std::min(la.size(), lt.size())));
    }
    const std::vector<int> order_a = atb_.ExecutionOrder(atb_token_), order_t = torch_.ExecutionOrder(torch_token_);
    auto within = [](const DumpTree& tree, const std::vector<int>& order, int layer) {
      std::vector<int> out;
      for (int n : order)
        if (tree.IsInside(n, layer)) out.push_back(n);
      return out;
    };
    const size_t k = std::min(la.size(), lt.size());
    for (size_t i = 0; i < k; ++i) {
      std::vector<int> scope_a = within(atb_, order_a, la[i]), scope_t = within(torch_, order_t, lt[i]);
      Tables(scope_a, scope_t, la[i], lt[i]);
      Align(scope_a, scope_t);
      Add(la[i], lt[i], "aligned");  // no-op when a custom entry paired the layers already
    }
    // Outside the layers: before the first, between, after the last.
    auto gaps = [](const DumpTree& tree, const std::vector<int>& order, const std::vector<int>& layers) {
      std::vector<std::vector<int>> g(layers.size() + 1);
      std::vector<char> in_layer(tree.nodes().size(), 0);
      for (int l : layers)
        for (size_t n = 0; n < tree.nodes().size(); ++n)
          if (tree.IsInside(static_cast<int>(n), l)) in_layer[n] = 1;
      size_t done = 0;
      std::set<int> layer_set(layers.begin(), layers.end());
      for (int n : order) {
        if (layer_set.count(n)) ++done;
        else if (!in_layer[static_cast<size_t>(n)] && tree.IsLeaf(n)) g[done].push_back(n);
      }
      return g;
    };
    auto ga = gaps(atb_, order_a, la), gt = gaps(torch_, order_t, lt);
    for (size_t g = 0; g < ga.size(); ++g) {
      size_t h;  // the torch gap facing ATB gap g
      if (g == 0) h = 0;
      else if (g == la.size()) h = lt.size();
      else if (g < lt.size()) h = g;
      else continue;
      Tables(ga[g], gt[h], -1, -1);
      Align(ga[g], gt[h]);
    }
    for (const auto& [what, layers] : mismatched_)
      notes_.push_back(fmt::format("{}: the counts differ in {} scope(s) (e.g. {}); left to the alignment", what,
                                   layers.first, layers.second));
  }

 private:
  const DumpTree& atb_;
  const DumpTree& torch_;
  std::string atb_token_, torch_token_;
  const OpMapping& mapping_;
  bool atb_is_my_;
  Links& links_;
  std::vector<std::string>& notes_;
  std::map<std::string, std::pair<int, std::string>> mismatched_;  // "A / T" -> (scopes, example)

  bool AtbLinked(int a) const { return atb_is_my_ ? links_.MyLinked(a) : links_.GoldenLinked(a); }
  bool TorchLinked(int t) const { return atb_is_my_ ? links_.GoldenLinked(t) : links_.MyLinked(t); }

  void Add(int a, int t, const std::string& match, const std::string& a_file = "", const std::string& t_file = "") {
    if (AtbLinked(a) || TorchLinked(t)) return;
    const int bias_add = atb_.node(a).type == "LinearOperation" ? BiasAddAfter(a) : -1;
    Link l;
    l.match = match;
    if (atb_is_my_) {
      l.my = a, l.golden = t, l.my_outputs_of = bias_add, l.my_file = a_file, l.golden_file = t_file;
    } else {
      l.my = t, l.golden = a, l.golden_outputs_of = bias_add, l.my_file = t_file, l.golden_file = a_file;
    }
    links_.Add(std::move(l));
  }

  void NoteMismatch(const std::string& what, size_t na, size_t nt, int layer_a, int layer_t) {
    auto& m = mismatched_[what];
    if (m.first++ == 0)
      m.second = layer_a >= 0 ? fmt::format("{} in {}, {} in {}", na, atb_.node(layer_a).name, nt, torch_.node(layer_t).name)
                              : fmt::format("{} vs {} outside the layers", na, nt);
  }

  // The op-mapping tables (7.3): exact types between leaves, custom substrings between all nodes
  // of the scope; a type pairs only when both sides have the same number of candidates.
  void Tables(const std::vector<int>& scope_a, const std::vector<int>& scope_t, int layer_a, int layer_t) {
    for (const auto& [at, tt] : mapping_.exact) {
      std::vector<int> A, T;
      for (int a : scope_a)
        if (atb_.IsLeaf(a) && atb_.node(a).type == at && !AtbLinked(a)) A.push_back(a);
      for (int t : scope_t)
        if (torch_.IsLeaf(t) && torch_.node(t).type == tt && !TorchLinked(t)) T.push_back(t);
      if (A.empty() || T.empty()) continue;
      if (A.size() != T.size()) {
        NoteMismatch(at + " / " + tt, A.size(), T.size(), layer_a, layer_t);
        continue;
      }
      for (size_t i = 0; i < A.size(); ++i) Add(A[i], T[i], "exact");
    }
    for (const auto& [key, values] : mapping_.custom) {
      const bool builtin = IsBuiltinCustom(key, values);
      auto [at, a_file] = topo::SplitMappingEntry(key);
      if (at.empty()) continue;
      for (const auto& value : values) {
        auto [tt, t_file] = topo::SplitMappingEntry(value);
        if (tt.empty()) continue;
        std::vector<int> A, T;
        for (int a : scope_a)
          if (atb_.node(a).type.find(at) != std::string::npos && !AtbLinked(a)) A.push_back(a);
        for (int t : scope_t)
          if (torch_.node(t).type.find(tt) != std::string::npos && !TorchLinked(t)) T.push_back(t);
        if (A.empty() || T.empty()) continue;
        if (A.size() != T.size()) {
          NoteMismatch(key + " / " + value, A.size(), T.size(), layer_a, layer_t);
          continue;
        }
        for (size_t i = 0; i < A.size(); ++i) Add(A[i], T[i], builtin ? "exact" : "mapped", a_file, t_file);
      }
    }
  }

  // The alignment: unpaired leaves of the scope, in execution order, by type compatibility and
  // equal output element count.
  void Align(const std::vector<int>& scope_a, const std::vector<int>& scope_t) {
    std::vector<int> A, T;
    for (int a : scope_a)
      if (atb_.IsLeaf(a) && !AtbLinked(a)) A.push_back(a);
    for (int t : scope_t)
      if (torch_.IsLeaf(t) && !TorchLinked(t)) T.push_back(t);
    if (A.empty() || T.empty()) return;
    std::vector<int64_t> na, nt;
    for (int a : A) na.push_back(atb_.OutputNumel(a, atb_token_));
    for (int t : T) nt.push_back(torch_.OutputNumel(t, torch_token_));
    std::vector<int> fa, ft;
    for (int a : A) fa.push_back(topo::AtbFamily(atb_.node(a).type));
    for (int t : T) ft.push_back(topo::TorchFamily(torch_.node(t).type));
    auto pairs = AlignSequences(fa, ft, [&](size_t i, size_t j) {
      return na[i] >= 0 && na[i] == nt[j] &&
             topo::AtbTorchTypesCompatible(atb_.node(A[i]).type, torch_.node(T[j]).type, mapping_);
    });
    for (auto [i, j] : pairs) Add(A[i], T[j], "aligned");
  }

  // The original's Linear + bias rule: a LinearOperation without bias followed by an element-wise
  // add (elewiseType 8) is one torch Linear with bias, so the add's output is compared. Ours
  // also requires the add to be a bias add, not a residual add: its other input is smaller than
  // the linear's output (when the inputs were dumped), else is neither the graph's first input
  // nor another operation's output (from the topology's tensor names).
  int BiasAddAfter(int a) const {
    const topo::Node& n = atb_.node(a);
    if (!n.param.is_object() || n.parent < 0) return -1;
    auto hb = n.param.find("hasBias");
    if (hb == n.param.end() || !hb->is_boolean() || hb->get<bool>()) return -1;
    const topo::Node& parent = atb_.node(n.parent);
    auto it = std::find(parent.children.begin(), parent.children.end(), a);
    if (it == parent.children.end() || it + 1 == parent.children.end()) return -1;
    const int s = *(it + 1);
    const topo::Node& add = atb_.node(s);
    if (add.type != "ElewiseOperation" || !add.param.is_object()) return -1;
    auto et = add.param.find("elewiseType");
    if (et == add.param.end() || !et->is_number_integer() || et->get<int64_t>() != 8) return -1;
    const int64_t out = atb_.OutputNumel(a, atb_token_);
    const auto ins = atb_.Inputs(s, atb_token_);
    if (out > 0 && ins.size() >= 2) {
      for (const auto& f : ins) {
        int64_t c = atb_.Numel(f.path);
        if (c > 0 && c < out) return s;
      }
      return -1;
    }
    if (!n.out_names.empty() && add.in_names.size() >= 2) {
      if (std::find(add.in_names.begin(), add.in_names.end(), n.out_names[0]) == add.in_names.end()) return -1;
      for (const auto& name : add.in_names) {
        if (name == n.out_names[0]) continue;
        if (!parent.in_names.empty() && name == parent.in_names[0]) return -1;
        for (int c : parent.children) {
          const auto& outs = atb_.node(c).out_names;
          if (std::find(outs.begin(), outs.end(), name) != outs.end()) return -1;
        }
      }
    }
    return s;
  }
};

// --- ATB vs ATB, different topologies (7.4 float vs quant, and beyond) -----------------------

class AtbAtbLinker {
 public:
  AtbAtbLinker(const DumpTree& my, std::string my_token, const DumpTree& golden, std::string golden_token, Links* links)
      : my_(my), golden_(golden), my_token_(std::move(my_token)), golden_token_(std::move(golden_token)), links_(*links) {}

  void Run() { LinkChildren(0, 0); }

 private:
  const DumpTree& my_;
  const DumpTree& golden_;
  std::string my_token_, golden_token_;
  Links& links_;

  void LinkChildren(int m, int g) {
    const size_t before = links_.size();
    // The original's rule: group children by type, my LinearOperation counted as
    // LinearQuantOperation; same type and count pair in order, LinearQuantOperation also pairs
    // with the golden's LinearOperation.
    auto key = [](const std::string& t) { return t == "LinearOperation" ? std::string("LinearQuantOperation") : t; };
    std::vector<std::pair<std::string, std::vector<int>>> my_groups;
    for (int c : my_.node(m).children) {
      std::string k = key(my_.node(c).type);
      auto it = std::find_if(my_groups.begin(), my_groups.end(), [&](const auto& e) { return e.first == k; });
      if (it == my_groups.end()) my_groups.push_back({k, {c}});
      else it->second.push_back(c);
    }
    std::map<std::string, std::vector<int>> golden_groups;
    for (int c : golden_.node(g).children) golden_groups[golden_.node(c).type].push_back(c);
    for (const auto& [k, M] : my_groups) {
      const std::vector<int>* G = nullptr;
      if (auto it = golden_groups.find(k); it != golden_groups.end() && it->second.size() == M.size()) G = &it->second;
      else if (k == "LinearQuantOperation")
        if (auto it2 = golden_groups.find("LinearOperation"); it2 != golden_groups.end() && it2->second.size() == M.size())
          G = &it2->second;
      if (!G) continue;
      for (size_t i = 0; i < M.size(); ++i) links_.Add({M[i], (*G)[i], "exact"});
    }
    // Ours: the rest by alignment (compatible type, equal output element count).
    std::vector<int> A, B;
    for (int c : my_.node(m).children)
      if (!links_.MyLinked(c)) A.push_back(c);
    for (int c : golden_.node(g).children)
      if (!links_.GoldenLinked(c)) B.push_back(c);
    if (!A.empty() && !B.empty()) {
      std::vector<int64_t> na, nb;
      for (int a : A) na.push_back(my_.OutputNumel(a, my_token_));
      for (int b : B) nb.push_back(golden_.OutputNumel(b, golden_token_));
      std::vector<int> fa, fb;
      for (int a : A) fa.push_back(topo::AtbFamily(my_.node(a).type));
      for (int b : B) fb.push_back(topo::AtbFamily(golden_.node(b).type));
      for (auto [i, j] : AlignSequences(fa, fb, [&](size_t i, size_t j) {
             return na[i] >= 0 && na[i] == nb[j] && my_.IsLeaf(A[i]) == golden_.IsLeaf(B[j]) &&
                    topo::AtbTypesCompatible(my_.node(A[i]).type, golden_.node(B[j]).type);
           }))
        links_.Add({A[i], B[j], "aligned"});
    }
    const size_t after = links_.size();
    for (size_t i = before; i < after; ++i) {
      const Link l = links_[i];
      if (!my_.IsLeaf(l.my) && !golden_.IsLeaf(l.golden)) LinkChildren(l.my, l.golden);
    }
  }
};

// --- torch vs torch ------------------------------------------------------------------------------

// Modules of the same name that hold outputs on both sides (containers such as a ModuleList are
// never called, so they hold none and enclose nothing in the report).
void LinkByModuleName(const DumpTree& my, const std::string& my_token, const DumpTree& golden,
                      const std::string& golden_token, Links* links, std::vector<std::string>* notes) {
  std::unordered_map<std::string, int> golden_by_name;
  for (size_t i = 0; i < golden.nodes().size(); ++i) golden_by_name.emplace(golden.nodes()[i].name, static_cast<int>(i));
  std::set<std::string> my_names;
  size_t only_my = 0, only_golden = 0;
  for (size_t i = 0; i < my.nodes().size(); ++i) {
    const int n = static_cast<int>(i);
    my_names.insert(my.node(n).name);
    auto it = golden_by_name.find(my.node(n).name);
    const bool mine = !my.Outputs(n, my_token, true).empty();
    if (it == golden_by_name.end()) {
      only_my += mine;
      continue;
    }
    const bool theirs = !golden.Outputs(it->second, golden_token, true).empty();
    if (mine && theirs) links->Add({n, it->second, "path"});
    else if (mine != theirs) ++(mine ? only_my : only_golden);
  }
  for (size_t i = 0; i < golden.nodes().size(); ++i)
    if (!my_names.count(golden.nodes()[i].name) && !golden.Outputs(static_cast<int>(i), golden_token, true).empty())
      ++only_golden;
  if (only_my || only_golden)
    notes->push_back(fmt::format("modules with outputs in token {} only in my dump: {}, only in the golden dump: {}",
                                 my_token, only_my, only_golden));
}

// Whether a torch dump's token folders hold folders that name no module of its model_tree.json
// (API-mode folders such as `root.model.layers.0.mlp.silu`).
bool HasFoldersOutsideTheTree(const DumpLocation& dump) {
  if (dump.topology.empty()) return false;
  using Json = nlohmann::json;
  std::set<std::string> names;
  const Json tree = topo::ReadJsonFile(dump.topology, "model_tree.json");
  std::vector<const Json*> todo = {&tree};
  while (!todo.empty()) {
    const Json* node = todo.back();
    todo.pop_back();
    if (!node->is_object()) continue;
    if (auto it = node->find("name"); it != node->end() && it->is_string()) names.insert(it->get<std::string>());
    if (auto it = node->find("children"); it != node->end() && it->is_array())
      for (const Json& child : *it) todo.push_back(&child);
  }
  for (const std::string& token : dump.tokens) {
    std::error_code ec;
    for (fs::directory_iterator it(dump.process_dir / token, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory(ec) && !names.count(it->path().filename().string())) return true;
  }
  return false;
}

// --- tensor files per token -----------------------------------------------------------------------

struct FilePair {
  TensorFile my, golden;
};

// Same stem on both sides.
std::vector<FilePair> ByStem(const std::vector<TensorFile>& my, const std::vector<TensorFile>& golden) {
  std::vector<FilePair> out;
  for (const auto& m : my)
    for (const auto& g : golden)
      if (m.stem == g.stem) out.push_back({m, g});
  return out;
}

class Assembler {
 public:
  Assembler(Scenario scenario, const DumpTree& my, const DumpTree& golden, const Links& links)
      : scenario_(scenario), my_(my), golden_(golden), links_(links) {
    const size_t n = my.nodes().size();
    layer_of_.assign(n, "");
    for (int l : DetectLayers(my))
      for (size_t i = 0; i < n; ++i)
        if (my.IsInside(static_cast<int>(i), l)) layer_of_[i] = my.node(l).name;
    depth_.assign(n, 0);
    has_linked_below_.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      if (!links.OfMy(static_cast<int>(i))) continue;
      for (int p = my.node(static_cast<int>(i)).parent; p >= 0; p = my.node(p).parent) has_linked_below_[static_cast<size_t>(p)] = 1;
    }
    // Nesting depth as GroupByOperation gives it: ATB 0 = top-level operation; torch = the
    // number of dots in the module name (the model root is 0).
    for (size_t i = 0; i < n; ++i)
      depth_[i] = my.kind() == DumpKind::kAtb ? my.nodes()[i].depth - 1 : my.nodes()[i].depth;
  }

  // Appends the OpPairs of one token pair, in my execution order.
  void AddToken(const std::string& my_token, const std::string& golden_token, OpPairing* out) {
    for (int n : my_.ExecutionOrder(my_token)) {
      const Link* l = links_.OfMy(n);
      if (!l) continue;
      OpPair op;
      op.token_id = my_token;
      op.my_name = my_.node(n).name;
      op.my_type = my_.node(n).type;
      op.golden_name = golden_.node(l->golden).name;
      op.golden_type = golden_.node(l->golden).type;
      op.op_id = my_.kind() == DumpKind::kAtb ? my_.node(n).op_id
                 : golden_.kind() == DumpKind::kAtb ? golden_.node(l->golden).op_id
                                                    : std::string();
      op.match = l->match;
      op.layer = layer_of_[static_cast<size_t>(n)];
      op.depth = depth_[static_cast<size_t>(n)];
      op.leaf = !has_linked_below_[static_cast<size_t>(n)];
      const int mo = l->my_outputs_of >= 0 ? l->my_outputs_of : n;
      const int go = l->golden_outputs_of >= 0 ? l->golden_outputs_of : l->golden;
      std::vector<FilePair> ins, outs;
      switch (scenario_) {
        case Scenario::kTorchTorch:
          ins = ByStem(my_.Inputs(n, my_token, true), golden_.Inputs(l->golden, golden_token, true));
          outs = ByStem(my_.Outputs(n, my_token, true), golden_.Outputs(l->golden, golden_token, true));
          break;
        case Scenario::kAtbAtb:
          ins = InputsByOrderAndCount(n, my_.Inputs(n, my_token), l->golden, golden_.Inputs(l->golden, golden_token));
          outs = ByStem(my_.Outputs(mo, my_token), golden_.Outputs(go, golden_token));
          break;
        case Scenario::kAtbTorch:
          ins = InputsByCount(n, my_token, l->golden, golden_token);
          outs = OutputsAtbTorch(*l, mo, my_token, go, golden_token);
          break;
      }
      if (outs.empty()) {
        ++ops_without_outputs_;
        continue;
      }
      for (const auto& f : ins) op.inputs.push_back(Tensor(op, f, my_.node(n).name, golden_.node(l->golden).name));
      for (const auto& f : outs) op.outputs.push_back(Tensor(op, f, my_.node(mo).name, golden_.node(go).name));
      out->ops.push_back(std::move(op));
    }
  }

  size_t ops_without_outputs() const { return ops_without_outputs_; }

 private:
  Scenario scenario_;
  const DumpTree& my_;
  const DumpTree& golden_;
  const Links& links_;
  std::vector<std::string> layer_of_;
  std::vector<int> depth_;
  std::vector<char> has_linked_below_;
  size_t data_id_ = 0;
  size_t ops_without_outputs_ = 0;

  TensorPair Tensor(const OpPair& op, const FilePair& f, const std::string& my_node, const std::string& golden_node) {
    TensorPair p;
    p.token_id = op.token_id;
    p.data_id = std::to_string(data_id_++);
    p.my_path = f.my.path.string();
    p.golden_path = f.golden.path.string();
    p.label = fmt::format("{}:{} ~ {}:{}", my_node, f.my.stem, golden_node, f.golden.stem);
    p.my_name = op.my_name;
    p.my_type = op.my_type;
    p.golden_name = op.golden_name;
    p.golden_type = op.golden_type;
    p.match = op.match;
    return p;
  }

  // ATB vs ATB: the inputs that are not model weights (topology name `<model>_weight_<i>`,
  // FORMATS.md 5.2), aligned in order by element count, so that inputs one side has more of
  // (a quantized linear's scales) do not shift the rest; empty tensors are left out.
  std::vector<FilePair> InputsByOrderAndCount(int m, std::vector<TensorFile> mine, int g, std::vector<TensorFile> golden) {
    auto drop_weights = [](const topo::Node& node, std::vector<TensorFile>* files) {
      std::erase_if(*files, [&](const TensorFile& f) {
        size_t k = 0;
        auto digits = std::string_view(f.stem).substr(8);  // "intensor" + K
        std::from_chars(digits.data(), digits.data() + digits.size(), k);
        return k < node.in_names.size() && node.in_names[k].find("_weight_") != std::string::npos;
      });
    };
    drop_weights(my_.node(m), &mine);
    drop_weights(golden_.node(g), &golden);
    std::vector<int64_t> a, b;
    for (const auto& f : mine) a.push_back(my_.Numel(f.path));
    for (const auto& f : golden) b.push_back(golden_.Numel(f.path));
    std::vector<FilePair> out;
    for (auto [i, j] : AlignSequences(a.size(), b.size(), [&](size_t i, size_t j) { return a[i] > 0 && a[i] == b[j]; }))
      out.push_back({mine[i], golden[j]});
    return out;
  }

  // Each positional torch input with the ATB input of the same element count: the same index
  // first, else the first unused one (weights have no torch input to match).
  std::vector<FilePair> InputsByCount(int m, const std::string& my_token, int g, const std::string& golden_token) {
    const bool my_atb = my_.kind() == DumpKind::kAtb;
    const DumpTree& atb = my_atb ? my_ : golden_;
    const DumpTree& torch = my_atb ? golden_ : my_;
    const auto atb_ins = atb.Inputs(my_atb ? m : g, my_atb ? my_token : golden_token);
    const auto torch_ins = torch.Inputs(my_atb ? g : m, my_atb ? golden_token : my_token);
    std::vector<FilePair> out;
    if (atb_ins.empty() || torch_ins.empty()) return out;
    std::vector<char> used(atb_ins.size(), 0);
    for (const auto& t : torch_ins) {
      const int64_t count = torch.Numel(t.path);
      if (count < 0) continue;
      const std::string same = "intensor" + t.stem.substr(6);
      int chosen = -1;
      for (size_t k = 0; k < atb_ins.size() && chosen < 0; ++k)
        if (!used[k] && atb_ins[k].stem == same && atb.Numel(atb_ins[k].path) == count) chosen = static_cast<int>(k);
      for (size_t k = 0; k < atb_ins.size() && chosen < 0; ++k)
        if (!used[k] && atb.Numel(atb_ins[k].path) == count) chosen = static_cast<int>(k);
      if (chosen < 0) continue;
      used[static_cast<size_t>(chosen)] = 1;
      const TensorFile& a = atb_ins[static_cast<size_t>(chosen)];
      out.push_back(my_atb ? FilePair{a, t} : FilePair{t, a});
    }
    return out;
  }

  // outtensorK with output_K (output for K = 0 when the module returned one tensor), or the
  // files a custom map entry names.
  std::vector<FilePair> OutputsAtbTorch(const Link& l, int mo, const std::string& my_token, int go,
                                        const std::string& golden_token) {
    auto files = [&](const DumpTree& tree, int node, const std::string& token, const std::string& stem) {
      return stem.empty() ? tree.Outputs(node, token) : tree.NamedFile(node, token, stem);
    };
    const auto mine = files(my_, mo, my_token, l.my_file), golden = files(golden_, go, golden_token, l.golden_file);
    std::vector<FilePair> out;
    if (mine.empty() || golden.empty()) return out;
    if (!l.my_file.empty() || !l.golden_file.empty()) return {{mine.front(), golden.front()}};
    const bool my_atb = my_.kind() == DumpKind::kAtb;
    const auto& atb = my_atb ? mine : golden;
    const auto& torch = my_atb ? golden : mine;
    for (size_t k = 0; k < atb.size(); ++k) {
      const std::string index = atb[k].stem.substr(9);  // "outtensor" + K
      for (const auto& t : torch) {
        if (t.stem == "output_" + index || (index == "0" && t.stem == "output")) {
          out.push_back(my_atb ? FilePair{atb[k], t} : FilePair{t, atb[k]});
          break;
        }
      }
    }
    return out;
  }
};

// Token folders to compare: the named ones, else those present on both sides.
std::vector<std::pair<std::string, std::string>> TokenPairs(const DumpLocation& my, const DumpLocation& golden,
                                                             std::vector<std::string>* notes) {
  auto has = [](const DumpLocation& d, const std::string& t) {
    return std::find(d.tokens.begin(), d.tokens.end(), t) != d.tokens.end();
  };
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", " : "") + v[i];
    return v.size() > 8 ? s + ", ..." : s.empty() ? std::string("none") : s;
  };
  std::vector<std::pair<std::string, std::string>> out;
  if (my.token_given && golden.token_given) {
    out.emplace_back(my.tokens.front(), golden.tokens.front());
  } else if (my.token_given || golden.token_given) {
    const std::string& t = my.token_given ? my.tokens.front() : golden.tokens.front();
    if (has(my, t) && has(golden, t)) out.emplace_back(t, t);
  } else {
    std::vector<std::string> only_my, only_golden;
    for (const auto& t : my.tokens) {
      if (has(golden, t)) out.emplace_back(t, t);
      else only_my.push_back(t);
    }
    for (const auto& t : golden.tokens)
      if (!has(my, t)) only_golden.push_back(t);
    if (!only_my.empty()) notes->push_back(fmt::format("token folders only in my dump: {}", list(only_my)));
    if (!only_golden.empty()) notes->push_back(fmt::format("token folders only in the golden dump: {}", list(only_golden)));
  }
  if (out.empty())
    Fail(my.process_dir.string(), "no token folder is present in both dumps (golden {}: {}; my: {})",
         golden.process_dir.string(), list(golden.tokens), list(my.tokens));
  return out;
}

void NoteUnpaired(const DumpTree& tree, bool my_side, const Links& links, std::vector<std::string>* notes) {
  std::map<std::string, int> counts;
  for (size_t i = 1; i < tree.nodes().size(); ++i) {
    const int n = static_cast<int>(i);
    if (!tree.IsLeaf(n) || (my_side ? links.MyLinked(n) : links.GoldenLinked(n))) continue;
    ++counts[tree.node(n).type];
  }
  if (!counts.empty())
    notes->push_back(fmt::format("{} {} without a counterpart: {}", my_side ? "my" : "golden",
                                 tree.kind() == DumpKind::kAtb ? "operations" : "modules", CountsByType(counts)));
}

}  // namespace

std::optional<OpPairing> PairByTopology(const fs::path& golden, const fs::path& my, const OpMapping& mapping) {
  const DumpLocation g = LocateDump(golden), m = LocateDump(my);
  Scenario scenario;
  std::string strategy;
  if (g.kind == DumpKind::kTorch && m.kind == DumpKind::kTorch) {
    // API-mode folders (`{module}.{function}[.N]`) are no modules of the tree: folders with
    // the same name pair them, which is what relative-path pairing does.
    if (HasFoldersOutsideTheTree(g) || HasFoldersOutsideTheTree(m)) return std::nullopt;
    scenario = Scenario::kTorchTorch;
    strategy = "torch vs torch (modules of the same name)";
  } else if (g.kind == DumpKind::kTorch || m.kind == DumpKind::kTorch) {
    const DumpLocation& torch = g.kind == DumpKind::kTorch ? g : m;
    const DumpLocation& other = g.kind == DumpKind::kTorch ? m : g;
    if (other.kind != DumpKind::kAtb)
      Fail(other.process_dir.string(), "not an ATB dump (no {{id}}_{{Operation}} folders in its token folders): "
           "cannot pair it with the torch dump {}", torch.process_dir.string());
    if (torch.topology.empty())
      Fail(torch.process_dir.string(), "the torch dump has no model_tree.json: module types are needed to pair "
           "modules with ATB operations");
    scenario = Scenario::kAtbTorch;
    strategy = m.kind == DumpKind::kAtb ? "ATB model vs torch model (topology + alignment)"
                                        : "torch model vs ATB model (topology + alignment)";
  } else if (g.kind == DumpKind::kAtb && m.kind == DumpKind::kAtb) {
    if (g.topology.empty() || m.topology.empty()) return std::nullopt;
    if (topo::ReadJsonFile(g.topology, "model topology JSON") == topo::ReadJsonFile(m.topology, "model topology JSON"))
      return std::nullopt;
    scenario = Scenario::kAtbAtb;
    strategy = "ATB vs ATB, different topologies (float vs quant rules + alignment)";
  } else {
    return std::nullopt;
  }

  OpPairing pairing;
  pairing.strategy = strategy;
  pairing.broadcast = scenario == Scenario::kAtbAtb;  // the original broadcasts ATB vs ATB only
  pairing.golden_root = g.process_dir;
  pairing.my_root = m.process_dir;
  const auto tokens = TokenPairs(m, g, &pairing.notes);
  const DumpTree my_tree = DumpTree::Load(m), golden_tree = DumpTree::Load(g);
  for (const auto* t : {&golden_tree, &my_tree})
    pairing.notes.insert(pairing.notes.end(), t->notes().begin(), t->notes().end());

  Links links(my_tree.nodes().size(), golden_tree.nodes().size());
  const auto& [my_token, golden_token] = tokens.front();  // structure is read from the first token
  switch (scenario) {
    case Scenario::kTorchTorch:
      LinkByModuleName(my_tree, my_token, golden_tree, golden_token, &links, &pairing.notes);
      break;
    case Scenario::kAtbAtb:
      AtbAtbLinker(my_tree, my_token, golden_tree, golden_token, &links).Run();
      break;
    case Scenario::kAtbTorch:
      if (m.kind == DumpKind::kAtb)
        AtbTorchLinker(my_tree, my_token, golden_tree, golden_token, mapping, true, &links, &pairing.notes).Run();
      else
        AtbTorchLinker(golden_tree, golden_token, my_tree, my_token, mapping, false, &links, &pairing.notes).Run();
      break;
  }
  if (scenario != Scenario::kTorchTorch) {
    NoteUnpaired(my_tree, true, links, &pairing.notes);
    NoteUnpaired(golden_tree, false, links, &pairing.notes);
  }
  Assembler assembler(scenario, my_tree, golden_tree, links);
  for (const auto& [mt, gt] : tokens) assembler.AddToken(mt, gt, &pairing);
  if (assembler.ops_without_outputs())
    pairing.notes.push_back(fmt::format("{} paired operation(s) skipped in some token: no output file on one side",
                                        assembler.ops_without_outputs()));
  return pairing;
}

}  // namespace ait
