// DumpTree, the one tree of a dump: operation folders, the ATB model JSON and its folders,
// torch model trees, and the lookups path grouping names folders with.
#include "compare/pairing/dump_tree.h"

#include <gtest/gtest.h>

#include <fstream>

#include "ait/error.h"
#include "test_util.h"

namespace ait::topo {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::vector<std::string> Names(const DumpTree& t, const std::vector<int>& nodes) {
  std::vector<std::string> out;
  for (int n : nodes) out.push_back(t.node(n).name);
  return out;
}

TEST(DumpTree, FromAtbFoldersBuildsChainsWithTheFoldersAboveThem) {
  DumpTree t = DumpTree::FromAtbFolders(
      {"1_Layer/10_ElewiseOperation", "1_Layer/2_LinearOperation/0_MatMul", "3_Norm", "before", "x/4_Stray", "02_Pad"});
  EXPECT_EQ(t.kind(), DumpKind::kAtb);
  EXPECT_EQ(t.node(0).name, "model");
  // Paths that are no chain ("before", "x/4_Stray") are left out; the layer above is added.
  ASSERT_EQ(t.nodes().size(), 7u);
  const int layer = t.FindFolder("1_Layer");
  ASSERT_GE(layer, 0);
  EXPECT_EQ(t.node(layer).name, "Layer_1");
  EXPECT_EQ(t.node(layer).depth, 1);
  // Children by folder id, not by name or by the order given.
  EXPECT_EQ(Names(t, t.node(layer).children), (std::vector<std::string>{"LinearOperation_1_2", "ElewiseOperation_1_10"}));
  EXPECT_EQ(Names(t, t.node(0).children), (std::vector<std::string>{"Layer_1", "Pad_02", "Norm_3"}));
  const int kernel = t.FindFolder("1_Layer/2_LinearOperation/0_MatMul");
  ASSERT_GE(kernel, 0);
  EXPECT_EQ(t.node(kernel).op_id, "1_2_0");
  EXPECT_EQ(t.node(kernel).type, "MatMul");
  EXPECT_EQ(t.node(kernel).depth, 3);
  EXPECT_EQ(t.FindFolder("x/4_Stray"), -1);
  EXPECT_EQ(t.FindFolder("before"), -1);
}

TEST(DumpTree, ReadAtbModelKeysOperationsByTheirOpNameIds) {
  TempDir dir;
  Write(dir.path() / "model.json", R"({"modelName": "Llama", "nodes": [
    {"opName": "WordEmbedding", "opType": "GatherOperation"},
    {"opName": "first_layer", "opType": "DecoderLayer", "nodes": [
      {"opName": "LinearOperation_1_0", "opType": "LinearOperation", "param": {"hasBias": false}},
      {"opName": "SwishOperation_1_1"}]}]})");
  DumpTree t = DumpTree::ReadAtbModel(dir.path() / "model.json");
  EXPECT_EQ(t.source(), "ATB model JSON");
  EXPECT_EQ(t.node(0).name, "Llama");
  ASSERT_EQ(t.nodes().size(), 5u);
  // op_id: the opName's ids, else the parent's op_id and the position.
  const int gather = t.FindOperation("0", "GatherOperation");
  ASSERT_GE(gather, 0);
  EXPECT_EQ(t.node(gather).name, "WordEmbedding");
  const int layer = t.FindOperation("1", "DecoderLayer");
  ASSERT_GE(layer, 0);
  EXPECT_FALSE(t.IsLeaf(layer));
  const int linear = t.FindOperation("1_0", "LinearOperation");
  ASSERT_GE(linear, 0);
  EXPECT_TRUE(t.node(linear).param.is_object());
  // The type is the opType, else the opName without its ids; either matches a folder's type.
  EXPECT_EQ(t.node(t.FindOperation("1_1", "SwishOperation")).type, "SwishOperation");
  // A type that disagrees is no match: ids can differ between the JSON and the folders.
  EXPECT_EQ(t.FindOperation("1_0", "ElewiseOperation"), -1);
  EXPECT_EQ(t.FindOperation("7", "GatherOperation"), -1);
}

TEST(DumpTree, ReadAtbModelRefusesWhatIsNoTopology) {
  TempDir dir;
  Write(dir.path() / "array.json", "[]");
  Write(dir.path() / "empty.json", R"({"modelName": "M", "nodes": []})");
  Write(dir.path() / "bad.json", "{not json");
  for (const char* name : {"array.json", "empty.json", "bad.json", "missing.json"})
    EXPECT_THROW(DumpTree::ReadAtbModel(dir.path() / name), Error) << name;
}

TEST(DumpTree, ReadTorchModelTreeSkipsUnusableNamesAndGivesPostOrder) {
  TempDir dir;
  Write(dir.path() / "model_tree.json", R"({"name": "root", "type": "LlamaForCausalLM", "children": [
    {"name": "root.model", "type": "LlamaModel", "children": [
      {"name": "root.model.norm", "type": "LlamaRMSNorm"},
      {"name": "", "type": "Unnamed", "children": [{"name": "root.hidden", "type": "Linear"}]},
      {"name": "root.model.norm", "type": "Repeated"}]},
    {"name": "root.lm_head", "type": "Linear"}]})");
  DumpTree t = DumpTree::ReadTorchModelTree(dir.path() / "model_tree.json");
  EXPECT_EQ(t.kind(), DumpKind::kTorch);
  EXPECT_EQ(Names(t, t.PostOrder()), (std::vector<std::string>{"root.model.norm", "root.model", "root.lm_head", "root"}));
  ASSERT_GE(t.FindByName("root.model.norm"), 0);
  EXPECT_EQ(t.node(t.FindByName("root.model.norm")).type, "LlamaRMSNorm");
  EXPECT_EQ(t.FindByName("root.hidden"), -1);  // below an unnamed module: its folder cannot be addressed
  ASSERT_EQ(t.notes().size(), 1u);
  EXPECT_NE(t.notes()[0].find("2 module(s) without a usable name skipped"), std::string::npos) << t.notes()[0];
}

TEST(DumpTree, LoadLocatesJsonOperationsByIdThenPositionThenTypeRank) {
  TempDir dir;
  const fs::path proc = dir.path() / "ait_dump/tensors/0_7";
  for (const char* folder : {"0_GatherOperation", "5_DecoderLayer/0_LinearOperation/0_MatMul", "5_DecoderLayer/1_LinearOperation",
                             "9_DecoderLayer/0_LinearOperation", "12_RmsNormOperation"})
    Write(proc / "0" / folder / "after/outtensor0.bin", "");
  Write(dir.path() / "ait_dump/model/7/model.json", R"({"modelName": "M", "nodes": [
    {"opName": "GatherOperation_0", "opType": "GatherOperation"},
    {"opName": "DecoderLayer_1", "opType": "DecoderLayer", "nodes": [
      {"opName": "LinearOperation_1_0", "opType": "LinearOperation"},
      {"opName": "LinearOperation_1_1", "opType": "LinearOperation"}]},
    {"opName": "DecoderLayer_2", "opType": "DecoderLayer", "nodes": [
      {"opName": "LinearOperation_2_0", "opType": "LinearOperation"}]},
    {"opName": "RmsNormOperation_3", "opType": "RmsNormOperation"},
    {"opName": "SoftmaxOperation_4", "opType": "SoftmaxOperation"}]})");
  DumpTree t = DumpTree::Load(LocateDump(dir.path()));
  EXPECT_EQ(t.source(), "ATB model JSON");
  auto folder_of = [&](const std::string& name) { return t.node(t.FindByName(name)).folder; };
  EXPECT_EQ(folder_of("GatherOperation_0"), "0_GatherOperation");        // by id
  EXPECT_EQ(folder_of("DecoderLayer_1"), "5_DecoderLayer");              // by type rank (ids disagree)
  EXPECT_EQ(folder_of("DecoderLayer_2"), "9_DecoderLayer");
  EXPECT_EQ(folder_of("LinearOperation_1_1"), "5_DecoderLayer/1_LinearOperation");
  EXPECT_EQ(t.node(t.FindByName("LinearOperation_2_0")).op_id, "9_0");  // op_id addresses the dump
  EXPECT_EQ(folder_of("RmsNormOperation_3"), "12_RmsNormOperation");
  EXPECT_EQ(folder_of("SoftmaxOperation_4"), "");                        // not dumped
  EXPECT_EQ(t.node(t.FindByName("SoftmaxOperation_4")).op_id, "4");
  ASSERT_EQ(t.notes().size(), 1u);
  EXPECT_NE(t.notes()[0].find("1 operation(s) of the model topology have no tensor folder"), std::string::npos);
  // Files of a located node.
  const auto outs = t.Outputs(t.FindByName("LinearOperation_1_1"), "0");
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].stem, "outtensor0");
}

TEST(DumpTree, LoadWithoutJsonKeepsOperationsAndLeavesKernelsOut) {
  TempDir dir;
  const fs::path proc = dir.path() / "ait_dump/tensors/0_7";
  for (const char* folder : {"0_GatherOperation/0_Gather", "1_DecoderLayer/0_LinearOperation/0_MatMul",
                             "1_DecoderLayer/1_ElewiseOperation"})
    Write(proc / "0" / folder / "after/outtensor0.bin", "");
  Write(proc / "1/2_RmsNormOperation/after/outtensor0.bin", "");  // a folder of another token counts too
  DumpTree t = DumpTree::Load(LocateDump(dir.path()));
  EXPECT_EQ(t.source(), "ATB tensor folders");
  EXPECT_EQ(Names(t, t.ExecutionOrder("0")),
            (std::vector<std::string>{"GatherOperation_0", "LinearOperation_1_0", "ElewiseOperation_1_1", "DecoderLayer_1",
                                      "RmsNormOperation_2"}));
  EXPECT_EQ(t.FindFolder("0_GatherOperation/0_Gather"), -1);  // a kernel
  EXPECT_EQ(t.node(t.FindFolder("1_DecoderLayer/0_LinearOperation")).op_id, "1_0");
}

}  // namespace
}  // namespace ait::topo
