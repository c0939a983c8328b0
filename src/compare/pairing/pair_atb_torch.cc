// Strategy "atb-torch": an ATB (or reference-engine) dump against a torch dump with its
// model_tree.json, either way round (FORMATS.md 7.3 and beyond): layers in order, operations
// to modules by the op-type tables, then a type + size alignment.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "ait/error.h"
#include "compare/pairing/linked_pairing.h"
#include "compare/pairing/op_alignment.h"

namespace ait {
namespace {

using topo::AlignSequences;
using topo::DetectLayers;
using topo::DumpTree;
using topo::FilePair;
using topo::Link;
using topo::Links;
using topo::TensorFile;

bool IsBuiltinCustom(const std::string& key, const std::vector<std::string>& values) {
  static const OpMapping builtin = BuiltinOpMapping();
  for (const auto& [k, v] : builtin.custom)
    if (k == key && v == values) return true;
  return false;
}

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

class AtbTorch final : public PairingStrategy {
 public:
  std::string_view name() const override { return "atb-torch"; }
  std::string_view summary() const override {
    return "ATB dump vs torch dump (model_tree.json), either way round: layers in order, op-type tables (-mf), "
           "type + size alignment";
  }

  Recognition Recognize(DumpPair& dumps) const override {
    const DumpLocation *g, *m;
    if (Recognition r = topo::LocateBoth(dumps, &g, &m); !r.accepted()) return r;
    if ((g->kind == DumpKind::kTorch) == (m->kind == DumpKind::kTorch))
      return Recognition::Decline(g->kind == DumpKind::kTorch ? "both are torch dumps" : "neither is a torch dump");
    const DumpLocation& torch = g->kind == DumpKind::kTorch ? *g : *m;
    const DumpLocation& other = g->kind == DumpKind::kTorch ? *m : *g;
    if (other.kind != DumpKind::kAtb)
      return Recognition::Block(fmt::format("{}: not an ATB dump (no {{id}}_{{Operation}} folders in its token folders): "
                                            "cannot pair it with the torch dump {}",
                                            other.process_dir.string(), torch.process_dir.string()));
    if (torch.topology.empty())
      return Recognition::Block(fmt::format("{}: the torch dump has no model_tree.json: module types are needed to pair "
                                            "modules with ATB operations",
                                            torch.process_dir.string()));
    topo::LinkedDumps linked;
    return topo::LoadLinkedDumps(dumps, &linked);
  }

  OpPairing Pair(DumpPair& dumps) const override {
    const topo::LinkedDumps linked = topo::LoadLinkedDumps(dumps);
    const DumpTree& my = *linked.my;
    const DumpTree& golden = *linked.golden;
    const bool atb_is_my = my.kind() == DumpKind::kAtb;
    std::vector<std::string> notes = linked.Notes();
    Links links(my.nodes().size(), golden.nodes().size());
    const auto& [my_token, golden_token] = linked.tokens.front();  // structure is read from the first token
    if (atb_is_my)
      AtbTorchLinker(my, my_token, golden, golden_token, dumps.mapping(), true, &links, &notes).Run();
    else
      AtbTorchLinker(golden, golden_token, my, my_token, dumps.mapping(), false, &links, &notes).Run();
    topo::LinkedPairingRules rules;
    rules.strategy = atb_is_my ? "ATB model vs torch model (topology + alignment)"
                               : "torch model vs ATB model (topology + alignment)";
    rules.inputs = [&](int m, int g, const Link&, const std::string& mt, const std::string& gt) {
      return AtbTorchInputs(my, golden, m, mt, g, gt);
    };
    rules.outputs = [&](int m, int g, const Link& l, const std::string& mt, const std::string& gt) {
      return AtbTorchOutputs(my, golden, l, m, mt, g, gt);
    };
    return topo::AssembleLinkedPairing(linked, links, rules, std::move(notes));
  }
};

}  // namespace

const PairingStrategy& AtbTorchStrategy() {
  static const AtbTorch strategy;
  return strategy;
}

}  // namespace ait
