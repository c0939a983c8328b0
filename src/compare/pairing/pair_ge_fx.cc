// Strategy "ge-fx": a torchair GE dump (my: operator files + dynamo_original_graph_*.txt)
// against the FX dump of the same graph (golden: one `.npy` per aten node input and output),
// FORMATS.md 9.6. Each GE operator finds its aten node through the `_fx_tensor_name` of its
// outputs in the graph text; a fused operator (AutomaticBufferFusionOp) is split into its
// members (9.8) and compared as a whole: its inputs against its members' nodes' inputs that
// come from outside the group, its outputs against its last member's node's. A Cast or TransData GE inserted (in no graph) is
// compared with its own input.
#include <algorithm>

#include <fmt/format.h>

#include "ait/error.h"
#include "compare/pairing/ge_op_pairs.h"
#include "compare/pairing/pairing_strategy.h"
#include "compare/pairing/torchair_layout.h"

namespace ait {
namespace fs = std::filesystem;
namespace {

// The FX node of a graph operator: the first output's `_fx_tensor_name` the FX token has.
const FxNode* NodeOf(const GeGraphOp* op, const FxToken& fx, std::string* key) {
  if (!op) return nullptr;
  for (const std::string& name : op->fx_tensor_names) {
    if (name.empty()) continue;
    auto it = fx.nodes.find(FxNodeKey(name));
    if (it != fx.nodes.end()) {
      *key = it->first;
      return &it->second;
    }
  }
  return nullptr;
}

// A fused operator's inputs on the FX side: each member's inputs that come from outside the
// group (GE input k of a member is its node's INPUT.k), in member order, as GE orders the fused
// operator's inputs; "" where a member's node is missing, keeping the indices. (The original
// takes the first member's node's inputs only, so a later member's outside input, the `up`
// projection of a fused silu(gate) * up, went unchecked and the fused operator looked like
// the place its error was born.)
std::vector<std::string> FusedInputs(const std::vector<std::string>& members, const GeGraph& graph, const FxToken& fx) {
  std::vector<std::string> inputs;
  for (const std::string& member : members) {
    const GeGraphOp* op = graph.Find(member);
    std::string key;
    const FxNode* node = NodeOf(op, fx, &key);
    for (size_t k = 0; k < op->inputs.size(); ++k)
      if (std::find(members.begin(), members.end(), op->inputs[k]) == members.end())
        inputs.push_back(node && k < node->inputs.size() ? node->inputs[k] : "");
  }
  return inputs;
}

// `mm-aten.mm.default` -> `aten.mm.default`.
std::string AtenTarget(const std::string& key) {
  const size_t dash = key.find("-aten.");
  return dash == std::string::npos ? "" : key.substr(dash + 1);
}

class GeFx final : public PairingStrategy {
 public:
  std::string_view name() const override { return "ge-fx"; }
  std::string_view summary() const override {
    return "torchair GE dump (my, with dynamo_original_graph_*.txt) vs FX .npy dump (golden): operators by "
           "_fx_tensor_name, fused ones split";
  }

  Recognition Recognize(DumpPair& dumps) const override {
    for (auto side : {DumpPair::kGolden, DumpPair::kMy}) {
      std::error_code ec;
      if (!fs::is_directory(dumps.path(side), ec)) return Recognition::Decline("not two folders");
    }
    if (FindGeGraphFiles(dumps.path(DumpPair::kMy)).empty())
      return Recognition::Decline("no GE graph text in my dump");
    if (!FindGeGraphFiles(dumps.path(DumpPair::kGolden)).empty())
      return Recognition::Decline("the golden dump is a GE dump too");
    return Recognition::Accept();
  }

  OpPairing Pair(DumpPair& dumps) const override {
    const GeDumpTree ge = ReadGeDumpTree(dumps.path(DumpPair::kMy));
    const FxDumpTree fx = ReadFxDumpTree(dumps.path(DumpPair::kGolden));
    GeOpPairingBuilder out("torchair GE (my) vs FX (golden), operators by _fx_tensor_name");
    std::vector<std::string> ge_tokens, fx_tokens;
    for (const GeToken& t : ge.tokens) ge_tokens.push_back(t.token);
    for (const FxToken& t : fx.tokens) fx_tokens.push_back(t.token);
    size_t operators = 0;
    std::vector<std::string> no_graph, no_fx, unsplit;
    for (auto [g, m] : out.CommonTokens(fx_tokens, ge_tokens)) {
      const FxToken& fx_token = fx.tokens[g];
      const GeToken& ge_token = ge.tokens[m];
      for (const GeOpFile& file : ge_token.files) {
        ++operators;
        const std::string& op_name = file.name.op_name;
        const bool fused = file.name.op_type == kFusedOpType;
        const std::vector<std::string> members =
            SplitFusedName(op_name, ge.graph, [&](const std::string& n) { return ge_token.Find(n) != nullptr; });
        if (members.empty()) {
          if (file.name.op_type.find("Cast") != std::string::npos ||
              file.name.op_type.find("TransData") != std::string::npos) {
            // Inserted by GE (in no graph): its output against its own input.
            const GeTensorAddresses own = GeTensorsOf(file.path);
            for (size_t k = 0; k < own.inputs.size() && k < own.outputs.size(); ++k)
              out.AddRow(ge_token.token, own.inputs[k], own.outputs[k], fmt::format("{}/{} (own input)", ge_token.token, op_name));
          } else {
            (fused ? unsplit : no_graph).push_back(op_name);
          }
          continue;
        }
        std::string first_key, last_key;
        const FxNode* first = NodeOf(ge.graph.Find(members.front()), fx_token, &first_key);
        const FxNode* last = NodeOf(ge.graph.Find(members.back()), fx_token, &last_key);
        if (!first || !last) {
          no_fx.push_back(op_name);
          continue;
        }
        OpPair op;
        op.token_id = ge_token.token;
        op.my_name = op_name;
        op.my_type = file.name.op_type;
        op.golden_name = members.size() == 1 ? last_key : first_key + " .. " + last_key;
        op.golden_type = AtenTarget(last_key);
        op.match = members.size() == 1 ? "fx-name" : "fused";
        const GeTensorAddresses mine = GeTensorsOf(file.path);
        out.Add(std::move(op), members.size() == 1 ? first->inputs : FusedInputs(members, ge.graph, fx_token),
                mine.inputs, last->outputs, mine.outputs);
      }
    }
    out.NoteNames("GE operator(s) are not in the graph text, not compared", no_graph);
    out.NoteNames("fused operator name(s) do not split into graph operators, not compared", unsplit);
    out.NoteNames("GE operator(s) have no FX node in the golden dump (no _fx_tensor_name, or the node was not "
                  "dumped), not compared",
                  no_fx);
    out.NoteDumpFiles(ge);
    OpPairing pairing = out.Finish(fmt::format(
        "no GE operator found its FX node: {} GE operators in {} token(s), {} FX .npy files in {} token(s) of the golden "
        "dump {} (is it the FX dump of the same graph? FX tokens count from 1, GE tokens from 0)",
        operators, ge.tokens.size(), fx.files, fx.tokens.size(), fx.root.string()));
    pairing.golden_root = fx.root;
    pairing.my_root = ge.root;
    return pairing;
  }
};

}  // namespace

const PairingStrategy& GeFxStrategy() {
  static const GeFx strategy;
  return strategy;
}

}  // namespace ait
