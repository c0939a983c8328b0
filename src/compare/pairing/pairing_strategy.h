// Pairing strategies turn two dumps into the one OpPairing that scoring and analysis
// consume; they are asked in registry order, and the first that recognises the two dumps
// pairs them. Adding a strategy = one new file in src/compare/pairing/ and one line in the
// registry (pairing_strategy.cc). docs/COMPARE_PAIRING.md states every strategy's rules.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ait/op_mapping.h"
#include "ait/op_pairs.h"
#include "compare/pairing/dump_layout.h"
#include "compare/pairing/dump_tree.h"

namespace ait {

// The two dumps as the strategies see them. Where each dump is and its operation tree are
// read on first use and kept, so strategies asked in turn share the work. Nothing here
// throws: what cannot be read is an error message the strategy turns into a decline.
class DumpPair {
 public:
  enum Side { kGolden = 0, kMy = 1 };

  DumpPair(std::filesystem::path golden, std::filesystem::path my, OpMapping mapping);

  // The paths as the user gave them.
  const std::filesystem::path& path(Side side) const { return paths_[side]; }
  const OpMapping& mapping() const { return mapping_; }

  // LocateDump of the side; nullptr (and error(side) set) when it cannot be located.
  const DumpLocation* location(Side side);
  // DumpTree::Load of the side; nullptr (and error(side) set) when it cannot be read.
  // REQUIRES: location(side) succeeded and its kind is kAtb or kTorch.
  const topo::DumpTree* tree(Side side);
  // Why the last location() or tree() of `side` failed.
  const std::string& error(Side side) const { return errors_[side]; }

 private:
  std::filesystem::path paths_[2];
  OpMapping mapping_;
  std::optional<DumpLocation> locations_[2];
  std::unique_ptr<topo::DumpTree> trees_[2];
  bool located_[2] = {false, false}, loaded_[2] = {false, false};
  std::string errors_[2];
};

// A strategy's answer to "do you pair these two dumps?".
struct Recognition {
  enum class Kind {
    kAccepted,
    kDeclined,  // not this strategy's scenario
    kBlocked,   // this strategy's scenario, but the dumps cannot be paired this way (reason says why)
  };
  Kind kind = Kind::kDeclined;
  std::string reason;  // why it declined or is blocked; empty when accepted

  static Recognition Accept() { return {Kind::kAccepted, ""}; }
  static Recognition Decline(std::string why) { return {Kind::kDeclined, std::move(why)}; }
  static Recognition Block(std::string why) { return {Kind::kBlocked, std::move(why)}; }
  bool accepted() const { return kind == Kind::kAccepted; }
};

class PairingStrategy {
 public:
  virtual ~PairingStrategy() = default;
  // Short name for messages and --help: "atb-torch".
  virtual std::string_view name() const = 0;
  // One line for --help: what it pairs and how.
  virtual std::string_view summary() const = 0;
  // Whether this strategy pairs `dumps`. Never throws.
  virtual Recognition Recognize(DumpPair& dumps) const = 0;
  // Pairs them. REQUIRES: Recognize(dumps) accepted. OpPairing::strategy names the result,
  // OpPairing::rows lists the tensor pairs the CSV reports. Throws ait::Error only for files
  // that turn out unreadable while pairing.
  virtual OpPairing Pair(DumpPair& dumps) const = 0;
  // The strategy of last resort: it accepts any two folders, so it stands last.
  virtual bool fallback() const { return false; }
};

// Every strategy, in the order they are asked.
const std::vector<const PairingStrategy*>& PairingStrategies();

// What asking the strategies gave.
struct StrategyChoice {
  const PairingStrategy* chosen = nullptr;  // nullptr when none accepted
  struct Refusal {
    const PairingStrategy* strategy;
    Recognition recognition;
  };
  std::vector<Refusal> refusals;  // the strategies before the chosen one, in order
  // The first kBlocked refusal's reason, "" when none: the most useful message when the
  // chosen strategy finds nothing to pair.
  std::string FirstBlock() const;
};

// Asks the strategies in order (skipping the fallback when `with_fallback` is false).
StrategyChoice ChooseStrategy(DumpPair& dumps, bool with_fallback = true);

// Every strategy but the fallback (the topology ones and manual mapping): the pairing of the first that
// accepts; nullopt when none recognises the dumps; throws ait::Error with the first blocked
// reason (a side that cannot be located, a torch dump without model_tree.json against ATB...).
std::optional<OpPairing> PairByTopology(const std::filesystem::path& golden, const std::filesystem::path& my,
                                        const OpMapping& mapping);

// The registered strategies. Each is defined in the file of its name.
const PairingStrategy& GeFusedStrategy();        // pair_ge_fused.cc
const PairingStrategy& GeFxStrategy();           // pair_ge_fx.cc
const PairingStrategy& ManualMappingStrategy();  // pair_manual_mapping.cc
const PairingStrategy& TorchTorchStrategy();   // pair_torch_torch.cc
const PairingStrategy& GgmlTorchStrategy();    // pair_ggml_torch.cc
const PairingStrategy& AtbTorchStrategy();     // pair_atb_torch.cc
const PairingStrategy& FloatQuantStrategy();   // pair_float_quant.cc
const PairingStrategy& PathStrategy();         // pair_by_path.cc

}  // namespace ait
