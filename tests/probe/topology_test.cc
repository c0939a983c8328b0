// Layer JSON (FORMATS.md 5.1) and the model merge (5.2), on the Bloom example of 5.2.
#include "probe/topology.h"

#include <gtest/gtest.h>

namespace ait::probe {
namespace {

// A layer as ATB's GetGraphInfo().dump() reports it: 3 inputs, 1 output, 2 internals; node
// tensor ids index [inputs..., outputs..., internals...].
const char* kBloomLayer = R"({"opName":"Bloom7bCommonLayer_3","opType":"BloomLayer","param":{"headNum":32},
  "inTensorNum":3,"outTensorNum":1,"internalTensorNum":2,"nodes":[
  {"opName":"LayerNormOperation_3_0","opType":"LayerNormOperation","param":{"epsilon":1e-05},
   "inTensorIds":[0,1],"outTensorIds":[4]},
  {"opName":"LinearOperation_3_1","opType":"LinearOperation",
   "param":{"hasBias":true,"transposeA":false,"transposeB":false},"inTensorIds":[4,2],"outTensorIds":[5]},
  {"opName":"MlpGraph_3_2","opType":"MlpGraph","param":{},"inTensorIds":[5,0],"outTensorIds":[3],
   "internalTensorNum":1,"nodes":[
     {"opName":"ActivationOperation_3_2_0","opType":"ActivationOperation","param":{"activationType":1},
      "inTensorIds":[0],"outTensorIds":[3]},
     {"opName":"ElewiseOperation_3_2_1","opType":"ElewiseOperation","param":{"elewiseType":8},
      "inTensorIds":[3,1],"outTensorIds":[2]}]}]})";

const char* kBloomLayerJson =
    R"({"opName":"Bloom7bCommonLayer_3","opType":"BloomLayer","param":{"headNum":32},)"
    R"("inTensors":["Bloom7bCommonLayer_3_input_0","Bloom7bCommonLayer_3_input_1","Bloom7bCommonLayer_3_input_2"],)"
    R"("outTensors":["Bloom7bCommonLayer_3_output_0"],)"
    R"("internalTensors":["Bloom7bCommonLayer_3_internal_0","Bloom7bCommonLayer_3_internal_1"],)"
    R"("nodes":[)"
    R"({"opName":"LayerNormOperation_3_0","opType":"LayerNormOperation","param":{"epsilon":1e-05},)"
    R"("inTensors":["Bloom7bCommonLayer_3_input_0","Bloom7bCommonLayer_3_input_1"],)"
    R"("outTensors":["Bloom7bCommonLayer_3_internal_0"]},)"
    R"({"opName":"LinearOperation_3_1","opType":"LinearOperation",)"
    R"("param":{"hasBias":true,"transposeA":false,"transposeB":false},)"
    R"("inTensors":["Bloom7bCommonLayer_3_internal_0","Bloom7bCommonLayer_3_input_2"],)"
    R"("outTensors":["Bloom7bCommonLayer_3_internal_1"]},)"
    R"({"opName":"MlpGraph_3_2","opType":"MlpGraph","param":{},)"
    R"("inTensors":["Bloom7bCommonLayer_3_internal_1","Bloom7bCommonLayer_3_input_0"],)"
    R"("outTensors":["Bloom7bCommonLayer_3_output_0"],"internalTensors":["MlpGraph_3_2_internal_0"],)"
    R"("nodes":[)"
    R"({"opName":"ActivationOperation_3_2_0","opType":"ActivationOperation","param":{"activationType":1},)"
    R"("inTensors":["Bloom7bCommonLayer_3_internal_1"],"outTensors":["MlpGraph_3_2_internal_0"]},)"
    R"({"opName":"ElewiseOperation_3_2_1","opType":"ElewiseOperation","param":{"elewiseType":8},)"
    R"("inTensors":["MlpGraph_3_2_internal_0","Bloom7bCommonLayer_3_input_0"],)"
    R"("outTensors":["Bloom7bCommonLayer_3_output_0"]}]}]})";

std::string Layer(const std::string& graph, std::string* error) {
  const auto layer = BuildLayerJson(OrderedJson::parse(graph), error);
  return layer ? DumpCompact(*layer) : "<none>";
}

TEST(LayerJson, NamesTensorsAndPicksChildTensorsByIdInOrder) {
  std::string error;
  EXPECT_EQ(Layer(kBloomLayer, &error), kBloomLayerJson);
  EXPECT_EQ(error, "");
}

TEST(LayerJson, EmptyListsAreLeftOut) {
  std::string error;
  EXPECT_EQ(Layer(R"({"opName":"A_1","opType":"A","param":null,"inTensorNum":0,"outTensorNum":1,"nodes":[]})", &error),
            R"({"opName":"A_1","opType":"A","param":null,"outTensors":["A_1_output_0"]})");
  // A leaf reported on its own: no nodes, no param key.
  EXPECT_EQ(Layer(R"({"opType":"B","inTensorNum":1,"outTensorNum":0,"opName":"B_0"})", &error),
            R"({"opName":"B_0","opType":"B","inTensors":["B_0_input_0"]})");
  EXPECT_EQ(error, "");
}

TEST(LayerJson, MissingRequiredKeysOrBadCountsAreErrors) {
  for (const char* bad : {R"({"opType":"A","inTensorNum":1,"outTensorNum":1})",
                          R"({"opName":"A_1","inTensorNum":1,"outTensorNum":1})",
                          R"({"opName":"A_1","opType":"A","outTensorNum":1})",
                          R"({"opName":"A_1","opType":"A","inTensorNum":1})",
                          R"({"opName":"A_1","opType":"A","inTensorNum":-1,"outTensorNum":1})",
                          R"({"opName":"A_1","opType":"A","inTensorNum":"2","outTensorNum":1})",
                          R"({"opName":"A_1","opType":"A","inTensorNum":1e12,"outTensorNum":1})",
                          R"({"opName":7,"opType":"A","inTensorNum":1,"outTensorNum":1})", R"([1,2])"}) {
    std::string error;
    EXPECT_FALSE(BuildLayerJson(OrderedJson::parse(bad), &error).has_value()) << bad;
    EXPECT_NE(error, "") << bad;
  }
}

TEST(LayerJson, AnIdOutsideTheParentListStopsThatNodeOnly) {
  std::string error;
  const std::string out = Layer(R"({"opName":"L_1","opType":"L","inTensorNum":2,"outTensorNum":1,"nodes":[
      {"opName":"X_1_0","opType":"X","inTensorIds":[0,9,1],"outTensorIds":[2]},
      {"opName":"Y_1_1","opType":"Y","inTensorIds":[1],"outTensorIds":[2]}]})",
                                &error);
  EXPECT_EQ(out,
            R"({"opName":"L_1","opType":"L","inTensors":["L_1_input_0","L_1_input_1"],"outTensors":["L_1_output_0"],)"
            R"("nodes":[{"opName":"X_1_0","opType":"X","inTensors":["L_1_input_0"]},)"
            R"({"opName":"Y_1_1","opType":"Y","inTensors":["L_1_input_1"],"outTensors":["L_1_output_0"]}]})");
  EXPECT_NE(error.find("X_1_0"), std::string::npos) << error;
}

TEST(LayerJson, DeepNestingIsCutOff) {
  std::string graph = R"({"opName":"D","opType":"D","inTensorNum":1,"outTensorNum":0,"nodes":[)";
  for (int i = 0; i < 200; ++i) graph += R"({"opName":"n","opType":"n","inTensorIds":[0],"nodes":[)";
  for (int i = 0; i < 200; ++i) graph += "]}";
  graph += "]}";
  std::string error;
  EXPECT_TRUE(BuildLayerJson(OrderedJson::parse(graph), &error).has_value());
  EXPECT_NE(error.find("deeper"), std::string::npos);
}

// atb_speed's model topology: nlohmann::json, so keys in alphabetical order.
const char* kBloomModel =
    R"({"inTensors":["M_input_0","M_input_1"],"internalTensors":["M_internal_0","M_internal_1","M_internal_2"],)"
    R"("modelName":"M","nodes":[)"
    R"({"inTensors":["M_weight_0","M_input_0"],"opName":"WordEmbedding","outTensors":["M_internal_0"]},)"
    R"({"inTensors":["M_internal_0"],"opName":"PositionEmbedding","outTensors":["M_internal_1"]},)"
    R"({"inTensors":["M_internal_1"],"opName":"LayerNorm","outTensors":["M_internal_2"]},)"
    R"({"inTensors":["M_internal_2","M_weight_1","M_input_1"],"opName":"Bloom7bCommonLayer","outTensors":["M_output_0"]}],)"
    R"("outTensors":["M_output_0"],"weightTensors":["M_weight_0","M_weight_1"]})";

TEST(ModelMerge, RenamesNodesWithAProcessWideCounterAndMergesCachedLayers) {
  ModelMerger merger;
  merger.CacheLayer("Bloom7bCommonLayer_3", OrderedJson::parse(kBloomLayer));
  std::string error;
  const std::string merged = DumpCompact(merger.Merge(OrderedJson::parse(kBloomModel), &error));
  EXPECT_EQ(error, "");
  // The layer node: opType is the old name (a new key after outTensors), opName gets _3,
  // internals are named after the new name, and the layer's nodes pick from the node's
  // in + out + internal names.
  const std::string layer_node =
      R"({"inTensors":["M_internal_2","M_weight_1","M_input_1"],"opName":"Bloom7bCommonLayer_3",)"
      R"("outTensors":["M_output_0"],"opType":"Bloom7bCommonLayer",)"
      R"("internalTensors":["Bloom7bCommonLayer_3_internal_0","Bloom7bCommonLayer_3_internal_1"],)"
      R"("nodes":[)"
      R"({"opName":"LayerNormOperation_3_0","opType":"LayerNormOperation","param":{"epsilon":1e-05},)"
      R"("inTensors":["M_internal_2","M_weight_1"],"outTensors":["Bloom7bCommonLayer_3_internal_0"]},)"
      R"({"opName":"LinearOperation_3_1","opType":"LinearOperation",)"
      R"("param":{"hasBias":true,"transposeA":false,"transposeB":false},)"
      R"("inTensors":["Bloom7bCommonLayer_3_internal_0","M_input_1"],"outTensors":["Bloom7bCommonLayer_3_internal_1"]},)"
      R"({"opName":"MlpGraph_3_2","opType":"MlpGraph","param":{},)"
      R"("inTensors":["Bloom7bCommonLayer_3_internal_1","M_internal_2"],"outTensors":["M_output_0"],)"
      R"("internalTensors":["MlpGraph_3_2_internal_0"],"nodes":[)"
      R"({"opName":"ActivationOperation_3_2_0","opType":"ActivationOperation","param":{"activationType":1},)"
      R"("inTensors":["Bloom7bCommonLayer_3_internal_1"],"outTensors":["MlpGraph_3_2_internal_0"]},)"
      R"({"opName":"ElewiseOperation_3_2_1","opType":"ElewiseOperation","param":{"elewiseType":8},)"
      R"("inTensors":["MlpGraph_3_2_internal_0","M_internal_2"],"outTensors":["M_output_0"]}]}]})";
  const std::string expected =
      R"({"inTensors":["M_input_0","M_input_1"],"internalTensors":["M_internal_0","M_internal_1","M_internal_2"],)"
      R"("modelName":"M","nodes":[)"
      R"({"inTensors":["M_weight_0","M_input_0"],"opName":"WordEmbedding_0","outTensors":["M_internal_0"],)"
      R"("opType":"WordEmbedding"},)"
      R"({"inTensors":["M_internal_0"],"opName":"PositionEmbedding_1","outTensors":["M_internal_1"],)"
      R"("opType":"PositionEmbedding"},)"
      R"({"inTensors":["M_internal_1"],"opName":"LayerNorm_2","outTensors":["M_internal_2"],"opType":"LayerNorm"},)" +
      layer_node + R"(],"outTensors":["M_output_0"],"weightTensors":["M_weight_0","M_weight_1"]})";
  EXPECT_EQ(merged, expected);

  // The counter is process-wide: a second model continues it.
  const OrderedJson second = merger.Merge(
      OrderedJson::parse(R"({"modelName":"N","nodes":[{"opName":"Head"},{"opName":"Tail"}]})"), &error);
  EXPECT_EQ(DumpCompact(second),
            R"({"modelName":"N","nodes":[{"opName":"Head_4","opType":"Head"},{"opName":"Tail_5","opType":"Tail"}]})");
}

TEST(ModelMerge, ModelsWithoutNodesOrWithOddNodesPassThrough) {
  ModelMerger merger;
  std::string error;
  EXPECT_EQ(DumpCompact(merger.Merge(OrderedJson::parse(R"({"modelName":"E"})"), &error)), R"({"modelName":"E"})");
  EXPECT_EQ(DumpCompact(merger.Merge(OrderedJson::parse(R"({"nodes":[1,{"opName":"A"}]})"), &error)),
            R"({"nodes":[1,{"opName":"A_0","opType":"A"}]})");
  EXPECT_NE(error, "");
}

}  // namespace
}  // namespace ait::probe
