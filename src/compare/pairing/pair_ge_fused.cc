// Strategy "ge-fused": a torchair GE dump with fusion (my) against a GE dump of the same graph
// with fusion switched off (golden), both with their dynamo_original_graph_*.txt, FORMATS.md
// 9.7-9.8. An operator of my dump is paired with the golden operator of the same name; a
// buffer-fused one (AutomaticBufferFusionOp.<members>) with its members in the golden dump:
// its inputs against the members' inputs that come from outside the group, its outputs
// against the last member's outputs.
#include <fmt/format.h>

#include "ait/error.h"
#include "compare/pairing/ge_op_pairs.h"
#include "compare/pairing/pairing_strategy.h"
#include "compare/pairing/torchair_layout.h"

namespace ait {
namespace fs = std::filesystem;
namespace {

// The golden side of a fused operator: the members' external inputs in member order (""
// where a member is missing from the golden dump, keeping the indices of the fused
// operator's inputs), and the last member's outputs.
struct FusedGolden {
  std::vector<std::string> inputs, outputs;
  std::string last_type;
};

FusedGolden GoldenOfFused(const std::vector<std::string>& members, const GeGraph& graph, const GeToken& golden) {
  FusedGolden out;
  for (size_t i = 0; i < members.size(); ++i) {
    const GeGraphOp& op = *graph.Find(members[i]);
    const GeOpFile* file = golden.Find(members[i]);
    const GeTensorAddresses tensors = file ? GeTensorsOf(file->path) : GeTensorAddresses{};
    const std::vector<std::string>& inputs = tensors.inputs;
    const size_t n = file ? std::min(inputs.size(), op.inputs.size()) : op.inputs.size();
    for (size_t k = 0; k < n; ++k) {
      const bool internal = std::find(members.begin(), members.end(), op.inputs[k]) != members.end();
      if (!internal) out.inputs.push_back(file ? inputs[k] : "");
    }
    if (i + 1 == members.size() && file) {
      out.outputs = tensors.outputs;
      out.last_type = file->name.op_type;
    }
  }
  return out;
}

class GeFused final : public PairingStrategy {
 public:
  std::string_view name() const override { return "ge-fused"; }
  std::string_view summary() const override {
    return "fused torchair GE dump (my) vs GE dump with fusion off (golden), both with dynamo_original_graph_*.txt: "
           "operators by name, fused ones by their members";
  }

  Recognition Recognize(DumpPair& dumps) const override {
    for (auto side : {DumpPair::kGolden, DumpPair::kMy}) {
      std::error_code ec;
      if (!fs::is_directory(dumps.path(side), ec)) return Recognition::Decline("not two folders");
      if (FindGeGraphFiles(dumps.path(side)).empty())
        return Recognition::Decline(
            fmt::format("no GE graph text in the {} dump", side == DumpPair::kGolden ? "golden" : "my"));
    }
    return Recognition::Accept();
  }

  OpPairing Pair(DumpPair& dumps) const override {
    GeDumpTree my = ReadGeDumpTree(dumps.path(DumpPair::kMy));
    const GeDumpTree golden = ReadGeDumpTree(dumps.path(DumpPair::kGolden));
    // Member names are looked up in my graph, then in the golden's (the same graph, before fusion).
    for (const fs::path& g : golden.graph.files) ReadGeGraph(g, my.graph);
    GeOpPairingBuilder out("torchair fused GE (my) vs GE without fusion (golden), operators by name");
    std::vector<std::string> my_tokens, golden_tokens;
    for (const GeToken& t : my.tokens) my_tokens.push_back(t.token);
    for (const GeToken& t : golden.tokens) golden_tokens.push_back(t.token);
    size_t operators = 0;
    std::vector<std::string> missing, unsplit;
    for (auto [g, m] : out.CommonTokens(golden_tokens, my_tokens)) {
      const GeToken& golden_token = golden.tokens[g];
      const GeToken& my_token = my.tokens[m];
      for (const GeOpFile& file : my_token.files) {
        ++operators;
        const std::string& op_name = file.name.op_name;
        OpPair op;
        op.token_id = my_token.token;
        op.my_name = op_name;
        op.my_type = file.name.op_type;
        const GeTensorAddresses mine = GeTensorsOf(file.path);
        if (file.name.op_type == kFusedOpType) {
          const std::vector<std::string> members = SplitFusedName(op_name, my.graph, [&](const std::string& n) {
            return my_token.Find(n) != nullptr || golden_token.Find(n) != nullptr;
          });
          if (members.empty()) {
            unsplit.push_back(op_name);
            continue;
          }
          FusedGolden gold = GoldenOfFused(members, my.graph, golden_token);
          if (gold.outputs.empty()) {
            missing.push_back(members.back());
            continue;
          }
          op.golden_name = members.front();
          for (size_t i = 1; i < members.size(); ++i) op.golden_name += "+" + members[i];
          op.golden_type = gold.last_type;
          op.match = "fused";
          out.Add(std::move(op), gold.inputs, mine.inputs, gold.outputs, mine.outputs);
          continue;
        }
        const GeOpFile* twin = golden_token.Find(op_name);
        if (!twin) {
          missing.push_back(op_name);
          continue;
        }
        op.golden_name = op_name;
        op.golden_type = twin->name.op_type;
        op.match = "name";
        const GeTensorAddresses theirs = GeTensorsOf(twin->path);
        out.Add(std::move(op), theirs.inputs, mine.inputs, theirs.outputs, mine.outputs);
      }
    }
    out.NoteNames("operator(s) have no golden data (not in the golden dump), not compared", missing);
    out.NoteNames("fused operator name(s) do not split into graph operators, not compared", unsplit);
    out.NoteDumpFiles(golden);
    out.NoteDumpFiles(my);
    OpPairing pairing = out.Finish(fmt::format(
        "no operator of my GE dump ({} in {} token(s)) found its counterpart in the golden GE dump {} ({} token(s))",
        operators, my.tokens.size(), golden.root.string(), golden.tokens.size()));
    pairing.golden_root = golden.root;
    pairing.my_root = my.root;
    return pairing;
  }
};

}  // namespace

const PairingStrategy& GeFusedStrategy() {
  static const GeFused strategy;
  return strategy;
}

}  // namespace ait
