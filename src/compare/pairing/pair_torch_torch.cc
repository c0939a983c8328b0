// Strategy "torch-torch": two torch dumps with model trees, modules of the same name.
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "ait/error.h"
#include "compare/pairing/linked_pairing.h"

namespace ait {
namespace fs = std::filesystem;
namespace {

using topo::DumpTree;
using topo::FilePair;
using topo::Link;
using topo::Links;

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
// (API-mode folders such as `root.model.layers.0.mlp.silu`). Throws ait::Error for an
// unreadable model_tree.json.
bool HasFoldersOutsideTheTree(const DumpLocation& dump) {
  if (dump.topology.empty()) return false;
  std::set<std::string> names;
  const topo::DumpTree tree = topo::DumpTree::ReadTorchModelTree(dump.topology);
  for (const topo::Node& node : tree.nodes()) names.insert(node.name);
  for (const std::string& token : dump.tokens) {
    std::error_code ec;
    for (fs::directory_iterator it(dump.process_dir / token, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory(ec) && !names.count(it->path().filename().string())) return true;
  }
  return false;
}

class TorchTorch final : public PairingStrategy {
 public:
  std::string_view name() const override { return "torch-torch"; }
  std::string_view summary() const override {
    return "torch vs torch dump (model_tree.json): modules of the same name, every tensor file by name";
  }

  Recognition Recognize(DumpPair& dumps) const override {
    const DumpLocation *golden, *my;
    if (Recognition r = topo::LocateBoth(dumps, &golden, &my); !r.accepted()) return r;
    if (golden->kind != DumpKind::kTorch || my->kind != DumpKind::kTorch)
      return Recognition::Decline("not two torch dumps");
    // API-mode folders (`{module}.{function}[.N]`) are no modules of the tree: folders with
    // the same name pair them, which is what relative-path pairing does.
    for (const DumpLocation* side : {golden, my}) {
      auto outside = Capture([&] { return HasFoldersOutsideTheTree(*side); });
      if (!outside.ok()) return Recognition::Block(outside.error());
      if (outside.value())
        return Recognition::Decline(fmt::format("{} holds folders that are no module of its model_tree.json (API dump)",
                                                side->process_dir.string()));
    }
    topo::LinkedDumps linked;
    return topo::LoadLinkedDumps(dumps, &linked);
  }

  OpPairing Pair(DumpPair& dumps) const override {
    const topo::LinkedDumps linked = topo::LoadLinkedDumps(dumps);
    const DumpTree& my = *linked.my;
    const DumpTree& golden = *linked.golden;
    std::vector<std::string> notes = linked.Notes();
    Links links(my.nodes().size(), golden.nodes().size());
    const auto& [my_token, golden_token] = linked.tokens.front();  // structure is read from the first token
    LinkByModuleName(my, my_token, golden, golden_token, &links, &notes);
    topo::LinkedPairingRules rules;
    rules.strategy = "torch vs torch (modules of the same name)";
    rules.note_unpaired = false;
    rules.inputs = [&](int m, int g, const Link&, const std::string& mt, const std::string& gt) {
      return topo::ByStem(my.Inputs(m, mt, true), golden.Inputs(g, gt, true));
    };
    rules.outputs = [&](int m, int g, const Link&, const std::string& mt, const std::string& gt) {
      return topo::ByStem(my.Outputs(m, mt, true), golden.Outputs(g, gt, true));
    };
    return topo::AssembleLinkedPairing(linked, links, rules, std::move(notes));
  }
};

}  // namespace

const PairingStrategy& TorchTorchStrategy() {
  static const TorchTorch strategy;
  return strategy;
}

}  // namespace ait
