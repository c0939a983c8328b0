// GroupByOperation on constructed dump trees: which files become which operation's inputs and
// outputs, names from the folder chain and the model JSON, kernels, layers, order.
#include "compare/pairing/path_grouping.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace ait {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void Touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "";
}

// An ATB-layout dump (file contents do not matter to grouping): a Gather, two layers of
// Linear (+ kernel) and Elewise, a final norm, for tokens 0 and 1.
fs::path MakeAtbDump(const fs::path& top, const std::string& pid, bool with_json) {
  fs::path root = top / "ait_dump" / "tensors" / ("0_" + pid);
  for (const std::string t : {"0", "1"}) {
    fs::path tok = root / t;
    for (const char* f : {"intensor0.bin", "intensor1.bin", "outtensor0.bin"}) {
      Touch(tok / "0_GatherOperation/0_Gather/after" / f);
      Touch(tok / "0_GatherOperation/after" / f);
    }
    for (const std::string l : {"1", "2"}) {
      fs::path layer = tok / (l + "_DecoderLayer");
      Touch(layer / "before/intensor0.bin");
      Touch(layer / "before/outtensor0.bin");  // not computed yet: not an output
      Touch(layer / "after/intensor0.bin");
      Touch(layer / "after/outtensor0.bin");
      for (const char* f : {"intensor0.bin", "intensor1.bin", "outtensor0.bin"}) {
        Touch(layer / "0_LinearOperation/0_MatMul/after" / f);
        Touch(layer / "0_LinearOperation/after" / f);
        Touch(layer / "1_ElewiseOperation/after" / f);
      }
    }
    Touch(tok / "3_RmsNormOperation/after/intensor0.bin");
    Touch(tok / "3_RmsNormOperation/after/outtensor0.bin");
  }
  if (with_json) {
    fs::create_directories(top / "ait_dump/model" / pid);
    std::ofstream(top / "ait_dump/model" / pid / "Model.json") << R"({"modelName": "Model", "nodes": [
      {"opName": "GatherOperation_0", "opType": "GatherOperation"},
      {"opName": "first_layer", "opType": "DecoderLayer", "nodes": [
        {"opName": "LinearOperation_1_0", "opType": "LinearOperation"},
        {"opName": "ElewiseOperation_1_1", "opType": "ElewiseOperation"}]},
      {"opName": "DecoderLayer_2", "opType": "DecoderLayer", "nodes": [
        {"opName": "LinearOperation_2_0", "opType": "LinearOperation"},
        {"opName": "ElewiseOperation_2_1", "opType": "ElewiseOperation"}]},
      {"opName": "RmsNormOperation_3", "opType": "RmsNormOperation"}]})";
  }
  return top;
}

const OpPair* Find(const OpPairing& ops, const std::string& token, const std::string& op_id) {
  for (const OpPair& op : ops.ops)
    if (op.token_id == token && op.op_id == op_id) return &op;
  return nullptr;
}

TEST(GroupByOperation, AtbFoldersBecomeOperationsInCompletionOrder) {
  TempDir dir;
  PairingResult pairing = PairByRelativePath(MakeAtbDump(dir.path() / "g", "11", false),
                                             MakeAtbDump(dir.path() / "m", "22", true));
  OpPairing ops = GroupByOperation(pairing);
  std::vector<std::string> order;
  for (const OpPair& op : ops.ops)
    if (op.token_id == "0") order.push_back(op.op_id);
  EXPECT_EQ(order, (std::vector<std::string>{"0_0", "0", "1_0_0", "1_0", "1_1", "1", "2_0_0", "2_0", "2_1", "2", "3"}));
  EXPECT_EQ(ops.ops.size(), 22u);
  EXPECT_EQ(ops.ops[11].token_id, "1");
  EXPECT_EQ(ops.golden_root, pairing.golden_root);
  EXPECT_NE(ops.strategy.find("operation"), std::string::npos);

  const OpPair* linear = Find(ops, "0", "1_0");
  ASSERT_TRUE(linear);
  EXPECT_EQ(linear->my_name, "LinearOperation_1_0");
  EXPECT_EQ(linear->golden_name, "LinearOperation_1_0");  // golden has no JSON: ATB's own naming
  EXPECT_EQ(linear->my_type, "LinearOperation");
  EXPECT_EQ(linear->match, "path");
  EXPECT_EQ(linear->layer, "first_layer");
  EXPECT_EQ(linear->depth, 1);
  EXPECT_FALSE(linear->leaf);  // holds its kernel
  ASSERT_EQ(linear->inputs.size(), 2u);
  ASSERT_EQ(linear->outputs.size(), 1u);
  EXPECT_TRUE(linear->outputs[0].my_path.ends_with("0/1_DecoderLayer/0_LinearOperation/after/outtensor0.bin"));
  EXPECT_EQ(linear->outputs[0].my_name, "LinearOperation_1_0");
  EXPECT_EQ(linear->outputs[0].golden_type, "LinearOperation");
  EXPECT_EQ(linear->outputs[0].match, "path");

  const OpPair* kernel = Find(ops, "0", "1_0_0");
  ASSERT_TRUE(kernel);
  EXPECT_EQ(kernel->my_name, "LinearOperation_1_0:MatMul");
  EXPECT_EQ(kernel->golden_name, "LinearOperation_1_0:MatMul");
  EXPECT_EQ(kernel->my_type, "MatMul");
  EXPECT_EQ(kernel->depth, 2);
  EXPECT_TRUE(kernel->leaf);
  EXPECT_EQ(kernel->layer, "first_layer");

  const OpPair* layer = Find(ops, "0", "1");
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->my_name, "first_layer");        // the JSON's opName, matched by position and type
  EXPECT_EQ(layer->golden_name, "DecoderLayer_1");
  EXPECT_EQ(layer->layer, "first_layer");
  EXPECT_EQ(layer->depth, 0);
  // Inputs from before/ when the dump has them there; before/ outputs are not results.
  ASSERT_EQ(layer->inputs.size(), 1u);
  EXPECT_TRUE(layer->inputs[0].my_path.ends_with("before/intensor0.bin"));
  ASSERT_EQ(layer->outputs.size(), 1u);
  EXPECT_TRUE(layer->outputs[0].my_path.ends_with("after/outtensor0.bin"));

  EXPECT_EQ(Find(ops, "0", "0_0")->my_name, "GatherOperation_0:Gather");
  EXPECT_EQ(Find(ops, "0", "0")->layer, "");
  EXPECT_EQ(Find(ops, "0", "2_1")->layer, "DecoderLayer_2");
  EXPECT_EQ(Find(ops, "1", "3")->my_name, "RmsNormOperation_3");
  EXPECT_TRUE(Find(ops, "1", "3")->leaf);
}

TEST(NameTensorPairsByPath, EveryFileGetsItsOperationsNames) {
  TempDir dir;
  PairingResult pairing = PairByRelativePath(MakeAtbDump(dir.path() / "g", "11", true),
                                             MakeAtbDump(dir.path() / "m", "22", true));
  NameTensorPairsByPath(pairing);
  for (const TensorPair& p : pairing.pairs) {
    EXPECT_EQ(p.match, "path");
    EXPECT_FALSE(p.my_name.empty()) << p.label;
    if (p.label == "1/2_DecoderLayer/before/outtensor0.bin") {
      EXPECT_EQ(p.my_name, "DecoderLayer_2");
      EXPECT_EQ(p.my_type, "DecoderLayer");
    }
  }
}

TEST(GroupByOperation, TorchModulesNameTypeLayerAndNesting) {
  TempDir dir;
  for (const char* side : {"g", "m"}) {
    fs::path root = dir.path() / side / "ait_dump/torch_tensors/cpu_5";
    for (const char* module : {"root.model.layers.0.mlp", "root.model.layers.0", "root.lm_head"}) {
      Touch(root / "0" / module / "input_0.pth");
      Touch(root / "0" / module / "output.pth");
    }
    std::ofstream(root / "model_tree.json") << R"({"name": "root", "type": "LlamaForCausalLM", "children": [
      {"name": "root.model", "type": "LlamaModel", "children": [
        {"name": "root.model.layers", "type": "ModuleList", "children": [
          {"name": "root.model.layers.0", "type": "LlamaDecoderLayer", "children": [
            {"name": "root.model.layers.0.mlp", "type": "LlamaMLP", "children": []}]}]}]},
      {"name": "root.lm_head", "type": "Linear", "children": []}]})";
  }
  OpPairing ops = GroupByOperation(PairByRelativePath(dir.path() / "g", dir.path() / "m"));
  ASSERT_EQ(ops.ops.size(), 3u);
  EXPECT_EQ(ops.ops[0].my_name, "root.model.layers.0.mlp");
  EXPECT_EQ(ops.ops[0].my_type, "LlamaMLP");
  EXPECT_EQ(ops.ops[0].golden_type, "LlamaMLP");
  EXPECT_EQ(ops.ops[0].layer, "root.model.layers.0");
  EXPECT_EQ(ops.ops[0].depth, 4);
  EXPECT_TRUE(ops.ops[0].leaf);
  EXPECT_EQ(ops.ops[0].op_id, "");
  EXPECT_EQ(ops.ops[1].my_name, "root.model.layers.0");
  EXPECT_EQ(ops.ops[1].my_type, "LlamaDecoderLayer");
  EXPECT_FALSE(ops.ops[1].leaf);
  EXPECT_EQ(ops.ops[2].my_name, "root.lm_head");
  EXPECT_EQ(ops.ops[2].layer, "");
  ASSERT_EQ(ops.ops[2].inputs.size(), 1u);
  EXPECT_TRUE(ops.ops[2].inputs[0].my_path.ends_with("input_0.pth"));
}

TEST(GroupByOperation, LooseFilesAreTheirOwnOperationsAndBadJsonIsIgnored) {
  TempDir dir;
  for (const char* side : {"g", "m"}) {
    Touch(dir.path() / side / "a.npy");
    Touch(dir.path() / side / "b.npy");
  }
  Touch(dir.path() / "g/extra.npy");
  fs::create_directories(dir.path() / "m/model/1");
  std::ofstream(dir.path() / "m/model/1/x.json") << "{not json";
  OpPairing ops = GroupByOperation(PairByRelativePath(dir.path() / "g", dir.path() / "m"));
  ASSERT_EQ(ops.ops.size(), 2u);
  EXPECT_EQ(ops.ops[0].my_name, "a");
  EXPECT_TRUE(ops.ops[0].inputs.empty());
  EXPECT_EQ(ops.ops[1].outputs.size(), 1u);
  EXPECT_EQ(ops.notes, std::vector<std::string>{"1 tensor files only in the golden dump (not compared), e.g. extra.npy"});
}

}  // namespace
}  // namespace ait
