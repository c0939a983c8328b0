// The strategy registry, and the shared view of two dumps the strategies are asked about.
#include "compare/pairing/pairing_strategy.h"

#include "ait/error.h"

namespace ait {
namespace fs = std::filesystem;

DumpPair::DumpPair(fs::path golden, fs::path my, OpMapping mapping)
    : paths_{std::move(golden), std::move(my)}, mapping_(std::move(mapping)) {}

const DumpLocation* DumpPair::location(Side side) {
  if (!located_[side]) {
    located_[side] = true;
    auto located = Capture([&] { return LocateDump(paths_[side]); });
    if (located.ok()) locations_[side] = std::move(located).value();
    else errors_[side] = located.error();
  }
  return locations_[side] ? &*locations_[side] : nullptr;
}

const topo::DumpTree* DumpPair::tree(Side side) {
  if (!loaded_[side]) {
    loaded_[side] = true;
    const DumpLocation* where = location(side);
    if (!where) return nullptr;
    auto loaded = Capture([&] { return std::make_unique<topo::DumpTree>(topo::DumpTree::Load(*where)); });
    if (loaded.ok()) trees_[side] = std::move(loaded).value();
    else errors_[side] = loaded.error();
  }
  return trees_[side].get();
}

// The registry: asked in this order. One line per strategy.
const std::vector<const PairingStrategy*>& PairingStrategies() {
  static const std::vector<const PairingStrategy*> strategies = {
      &GeFusedStrategy(),  // torchair: my dump has a GE graph text; decided first, as the original does
      &GeFxStrategy(),
      &ManualMappingStrategy(),  // golden_tensor/metadata.json
      &TorchTorchStrategy(),
      &GgmlTorchStrategy(),  // a llama.cpp dump (ggml_graph.json) against a torch dump
      &AtbTorchStrategy(),
      &FloatQuantStrategy(),
      &PathStrategy(),  // the fallback: any two folders
  };
  return strategies;
}

std::string StrategyChoice::FirstBlock() const {
  for (const Refusal& r : refusals)
    if (r.recognition.kind == Recognition::Kind::kBlocked) return r.recognition.reason;
  return "";
}

StrategyChoice ChooseStrategy(DumpPair& dumps, bool with_fallback) {
  StrategyChoice choice;
  for (const PairingStrategy* s : PairingStrategies()) {
    if (s->fallback() && !with_fallback) continue;
    Recognition r = s->Recognize(dumps);
    if (r.accepted()) {
      choice.chosen = s;
      break;
    }
    choice.refusals.push_back({s, std::move(r)});
  }
  return choice;
}

std::optional<OpPairing> PairByTopology(const fs::path& golden, const fs::path& my, const OpMapping& mapping) {
  DumpPair dumps(golden, my, mapping);
  StrategyChoice choice = ChooseStrategy(dumps, /*with_fallback=*/false);
  if (choice.chosen) return choice.chosen->Pair(dumps);
  if (std::string blocked = choice.FirstBlock(); !blocked.empty()) throw Error(blocked);
  return std::nullopt;
}

}  // namespace ait
