// Strategy "float-quant": two ATB dumps whose model topologies differ (a float build against a
// quantized one, FORMATS.md 7.4 and beyond): the original's float-vs-quant rules per graph
// level, then a type + size alignment.
#include <algorithm>
#include <charconv>
#include <map>

#include "ait/error.h"
#include "compare/pairing/linked_pairing.h"
#include "compare/pairing/op_alignment.h"

namespace ait {
namespace {

using topo::AlignSequences;
using topo::DumpTree;
using topo::FilePair;
using topo::Link;
using topo::Links;
using topo::TensorFile;

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

// ATB vs ATB: the inputs that are not model weights (topology name `<model>_weight_<i>`,
// FORMATS.md 5.2), aligned in order by element count, so that inputs one side has more of
// (a quantized linear's scales) do not shift the rest; empty tensors are left out.
std::vector<FilePair> InputsByOrderAndCount(const DumpTree& my_, const DumpTree& golden_, int m, std::vector<TensorFile> mine,
                                            int g, std::vector<TensorFile> golden) {
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

class FloatQuant final : public PairingStrategy {
 public:
  std::string_view name() const override { return "float-quant"; }
  std::string_view summary() const override {
    return "ATB vs ATB dump whose model topologies differ (float vs quantized): the original's float-vs-quant "
           "rules, then type + size alignment";
  }

  Recognition Recognize(DumpPair& dumps) const override {
    const DumpLocation *g, *m;
    if (Recognition r = topo::LocateBoth(dumps, &g, &m); !r.accepted()) return r;
    if (g->kind != DumpKind::kAtb || m->kind != DumpKind::kAtb) return Recognition::Decline("not two ATB dumps");
    if (g->topology.empty() || m->topology.empty())
      return Recognition::Decline("an ATB dump without a model topology JSON");
    auto same = Capture([&] {
      return ReadJsonFile(g->topology, "model topology JSON") == ReadJsonFile(m->topology, "model topology JSON");
    });
    if (!same.ok()) return Recognition::Block(same.error());
    if (same.value()) return Recognition::Decline("both dumps have the same model topology");
    topo::LinkedDumps linked;
    return topo::LoadLinkedDumps(dumps, &linked);
  }

  OpPairing Pair(DumpPair& dumps) const override {
    const topo::LinkedDumps linked = topo::LoadLinkedDumps(dumps);
    const DumpTree& my = *linked.my;
    const DumpTree& golden = *linked.golden;
    Links links(my.nodes().size(), golden.nodes().size());
    const auto& [my_token, golden_token] = linked.tokens.front();  // structure is read from the first token
    AtbAtbLinker(my, my_token, golden, golden_token, &links).Run();
    topo::LinkedPairingRules rules;
    rules.strategy = "ATB vs ATB, different topologies (float vs quant rules + alignment)";
    rules.broadcast = true;  // the original broadcasts ATB vs ATB only
    rules.inputs = [&](int m, int g, const topo::Link&, const std::string& mt, const std::string& gt) {
      return InputsByOrderAndCount(my, golden, m, my.Inputs(m, mt), g, golden.Inputs(g, gt));
    };
    rules.outputs = [&](int m, int g, const topo::Link&, const std::string& mt, const std::string& gt) {
      return topo::ByStem(my.Outputs(m, mt), golden.Outputs(g, gt));
    };
    return topo::AssembleLinkedPairing(linked, links, rules, linked.Notes());
  }
};

}  // namespace

const PairingStrategy& FloatQuantStrategy() {
  static const FloatQuant strategy;
  return strategy;
}

}  // namespace ait
