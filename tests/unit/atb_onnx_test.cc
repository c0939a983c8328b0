// ATB topology JSON -> ONNX: node selection by level, attributes, graph inputs/outputs, SSA
// renaming, errors. Every model produced here also goes through onnx's own checker.
#include "ait/atb_onnx.h"

#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"

namespace ait {
namespace {

using nlohmann::json;

// EXPECT_TRUE(Contains(text, part)) shows the text when the part is missing.
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not in: " << text;
}

onnx::ModelProto ToModel(const json& topology, int level) {
  std::string bytes = AtbJsonToOnnxBytes(topology, level, "test.json");
  onnx::ModelProto model;
  EXPECT_TRUE(model.ParseFromString(bytes));
  EXPECT_NO_THROW(onnx::checker::check_model(model)) << model.DebugString();
  return model;
}

std::vector<std::string> NodeNames(const onnx::ModelProto& m) {
  std::vector<std::string> names;
  for (const auto& n : m.graph().node()) names.push_back(n.name());
  return names;
}

template <typename List>
std::vector<std::string> Strings(const List& list) {
  return std::vector<std::string>(list.begin(), list.end());
}

template <typename ValueInfos>
std::vector<std::string> ValueNames(const ValueInfos& infos) {
  std::vector<std::string> names;
  for (const auto& v : infos) names.push_back(v.name());
  return names;
}

const onnx::AttributeProto* FindAttribute(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::string ErrorOf(const json& topology, int level) {
  try {
    AtbJsonToOnnxBytes(topology, level, "bad.json");
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << topology.dump();
  return "";
}

// R -> A -> A1 -> {A1a, A1b}; A -> A2; R -> B. Tensors chain through every leaf.
json Nested() {
  auto leaf = [](const char* name, const char* in, const char* out) {
    return json{{"opName", name}, {"opType", std::string(name) + "Type"}, {"param", json::object()},
                {"inTensors", {in}}, {"outTensors", {out}}};
  };
  json a1 = {{"opName", "A1"}, {"opType", "A1Type"}, {"inTensors", {"R_input_0"}}, {"outTensors", {"t1"}},
             {"nodes", {leaf("A1a", "R_input_0", "t0"), leaf("A1b", "t0", "t1")}}};
  json a = {{"opName", "A"}, {"opType", "AType"}, {"inTensors", {"R_input_0"}}, {"outTensors", {"t2"}},
            {"nodes", {a1, leaf("A2", "t1", "t2")}}};
  return {{"opName", "R"}, {"opType", "RType"}, {"param", {{"k", 1}}},
          {"inTensors", {"R_input_0"}}, {"outTensors", {"R_output_0"}},
          {"internalTensors", {"t0", "t1", "t2"}}, {"nodes", {a, leaf("B", "t2", "R_output_0")}}};
}

TEST(AtbJsonToOnnx, LevelMinusOneEmitsEveryLeaf) {
  EXPECT_EQ(NodeNames(ToModel(Nested(), -1)), (std::vector<std::string>{"A1a", "A1b", "A2", "B"}));
}

TEST(AtbJsonToOnnx, LevelZeroEmitsTheRootAsOneNode) {
  onnx::ModelProto m = ToModel(Nested(), 0);
  ASSERT_EQ(m.graph().node_size(), 1);
  const onnx::NodeProto& root = m.graph().node(0);
  EXPECT_EQ(root.name(), "R");
  EXPECT_EQ(root.op_type(), "RType");
  EXPECT_EQ(Strings(root.input()), std::vector<std::string>{"R_input_0"});
  EXPECT_EQ(Strings(root.output()), std::vector<std::string>{"R_output_0"});
  ASSERT_NE(FindAttribute(root, "k"), nullptr);
}

TEST(AtbJsonToOnnx, LevelNEmitsNodesAtDepthNOrShallowerLeaves) {
  EXPECT_EQ(NodeNames(ToModel(Nested(), 1)), (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(NodeNames(ToModel(Nested(), 2)), (std::vector<std::string>{"A1", "A2", "B"}));
  EXPECT_EQ(NodeNames(ToModel(Nested(), 3)), (std::vector<std::string>{"A1a", "A1b", "A2", "B"}));
  EXPECT_EQ(NodeNames(ToModel(Nested(), 9)), (std::vector<std::string>{"A1a", "A1b", "A2", "B"}));
}

TEST(AtbJsonToOnnx, RootWithoutNodesIsTheOnlyNode) {
  json leaf = {{"opName", "LinearOperation_1"}, {"opType", "LinearOperation"},
               {"inTensors", {"x", "w"}}, {"outTensors", {"y"}}};
  for (int level : {-1, 0, 2}) {
    onnx::ModelProto m = ToModel(leaf, level);
    EXPECT_EQ(NodeNames(m), std::vector<std::string>{"LinearOperation_1"});
    EXPECT_EQ(ValueNames(m.graph().input()), (std::vector<std::string>{"x", "w"}));
  }
}

TEST(AtbJsonToOnnx, ModelHeaderSatisfiesTheChecker) {
  onnx::ModelProto m = ToModel(Nested(), -1);
  EXPECT_EQ(m.ir_version(), 7);
  EXPECT_EQ(m.producer_name(), "ait-llm");
  ASSERT_EQ(m.opset_import_size(), 2);
  EXPECT_EQ(m.opset_import(0).domain(), "");
  EXPECT_EQ(m.opset_import(0).version(), 13);
  EXPECT_EQ(m.opset_import(1).domain(), "ait.atb");
  EXPECT_EQ(m.opset_import(1).version(), 1);
  EXPECT_EQ(m.graph().name(), "R");
  for (const auto& n : m.graph().node()) EXPECT_EQ(n.domain(), "ait.atb");
  for (const auto& v : m.graph().input()) {
    ASSERT_TRUE(v.type().has_tensor_type());
    EXPECT_EQ(v.type().tensor_type().elem_type(), onnx::TensorProto::UNDEFINED);
    EXPECT_TRUE(v.type().tensor_type().has_shape());
  }
}

TEST(AtbJsonToOnnx, NodeInputsAndOutputsAreTheJsonTensorNames) {
  onnx::ModelProto m = ToModel(Nested(), -1);
  EXPECT_EQ(ValueNames(m.graph().input()), std::vector<std::string>{"R_input_0"});
  EXPECT_EQ(ValueNames(m.graph().output()), std::vector<std::string>{"R_output_0"});
  const onnx::NodeProto& a1b = m.graph().node(1);
  EXPECT_EQ(a1b.op_type(), "A1bType");
  EXPECT_EQ(Strings(a1b.input()), std::vector<std::string>{"t0"});
  EXPECT_EQ(Strings(a1b.output()), std::vector<std::string>{"t1"});
}

TEST(AtbJsonToOnnx, ParamsBecomeAttributes) {
  json node = {{"opName", "Op_0"}, {"opType", "Op"}, {"inTensors", {"x"}}, {"outTensors", {"y"}},
               {"param",
                {{"hasBias", true},
                 {"transposeA", false},
                 {"headNum", 32},
                 {"epsilon", 1e-5},
                 {"big", 1e300},
                 {"name", "aGVsbG8="},  // kept verbatim: no base64 decoding
                 {"axes", {0, 2, -1}},
                 {"mixed", {1, "two", nullptr, {3}}},
                 {"none", nullptr},
                 {"empty", json::object()},
                 {"emptyList", json::array()},
                 {"normParam", {{"epsilon", 0.5}, {"quant", {{"type", "int8"}, {"scale", {1.5, 2}}}}}}}}};
  onnx::ModelProto m = ToModel(node, -1);
  const onnx::NodeProto& n = m.graph().node(0);
  auto floats = [&](const char* name) {
    const onnx::AttributeProto* a = FindAttribute(n, name);
    EXPECT_NE(a, nullptr) << name;
    if (!a) return std::vector<float>{};
    EXPECT_EQ(a->type(), onnx::AttributeProto::FLOATS) << name;
    return std::vector<float>(a->floats().begin(), a->floats().end());
  };
  auto strings = [&](const char* name) {
    const onnx::AttributeProto* a = FindAttribute(n, name);
    EXPECT_NE(a, nullptr) << name;
    if (!a) return std::vector<std::string>{};
    EXPECT_EQ(a->type(), onnx::AttributeProto::STRINGS) << name;
    return Strings(a->strings());
  };
  EXPECT_EQ(floats("hasBias"), std::vector<float>{1});
  EXPECT_EQ(floats("transposeA"), std::vector<float>{0});
  EXPECT_EQ(floats("headNum"), std::vector<float>{32});
  EXPECT_EQ(floats("epsilon"), std::vector<float>{1e-5f});
  EXPECT_EQ(floats("big"), std::vector<float>{std::numeric_limits<float>::infinity()});
  EXPECT_EQ(strings("name"), std::vector<std::string>{"aGVsbG8="});
  EXPECT_EQ(floats("axes"), (std::vector<float>{0, 2, -1}));
  EXPECT_EQ(strings("mixed"), (std::vector<std::string>{"1", "two", "null", "[3]"}));
  EXPECT_EQ(floats("none"), std::vector<float>{});
  EXPECT_EQ(strings("empty"), std::vector<std::string>{"{}"});
  EXPECT_EQ(floats("emptyList"), std::vector<float>{});
  EXPECT_EQ(floats("normParam.epsilon"), std::vector<float>{0.5});
  EXPECT_EQ(strings("normParam.quant.type"), std::vector<std::string>{"int8"});
  EXPECT_EQ(floats("normParam.quant.scale"), (std::vector<float>{1.5, 2}));
  // One attribute per leaf value: the original's duplicated last sub-attribute is gone.
  EXPECT_EQ(n.attribute_size(), 14);
}

TEST(AtbJsonToOnnx, NonObjectParamAndCollidingNames) {
  json node = {{"opName", "Op_0"}, {"opType", "Op"}, {"param", "{\"a\": 1}"}};
  onnx::ModelProto m = ToModel(node, -1);
  ASSERT_EQ(m.graph().node(0).attribute_size(), 1);
  EXPECT_EQ(m.graph().node(0).attribute(0).name(), "param");
  EXPECT_EQ(m.graph().node(0).attribute(0).strings(0), "{\"a\": 1}");

  node["param"] = {{"a", {{"b", 1}}}, {"a.b", 2}, {"", 3}};
  m = ToModel(node, -1);
  std::vector<std::string> names;
  for (const auto& a : m.graph().node(0).attribute()) names.push_back(a.name());
  EXPECT_EQ(names, (std::vector<std::string>{"(empty)", "a.b", "a.b#2"}));
}

// A model JSON (FORMATS.md 5.2) after the probe's merge: weights and caches are read by the
// layers but are no graph inputs of the model; they become graph inputs with a note.
TEST(AtbJsonToOnnx, ModelJsonWeightsAndCachesBecomeGraphInputs) {
  json model = {
      {"inTensors", {"M_input_0"}},
      {"internalTensors", {"M_internal_0"}},
      {"kCacheTensors", {"M_kCache_0"}},
      {"modelName", "M"},
      {"nodes",
       {{{"inTensors", {"M_input_0", "M_weight_0", "M_kCache_0"}},
         {"opName", "Layer_0"},
         {"outTensors", {"M_internal_0"}},
         {"opType", "Layer"}},
        {{"inTensors", {"M_internal_0", "M_weight_1"}},
         {"opName", "Head_1"},
         {"outTensors", {"M_output_0"}},
         {"opType", "Head"}}}},
      {"outTensors", {"M_output_0"}},
      {"weightTensors", {"M_weight_0", "M_weight_1"}}};
  onnx::ModelProto m = ToModel(model, -1);
  EXPECT_EQ(m.graph().name(), "M");
  EXPECT_EQ(ValueNames(m.graph().input()),
            (std::vector<std::string>{"M_input_0", "M_weight_0", "M_kCache_0", "M_weight_1"}));
  EXPECT_TRUE(m.graph().input(0).doc_string().empty());
  EXPECT_TRUE(Contains(m.graph().input(1).doc_string(), "not an input of the ATB graph"));
  EXPECT_EQ(ValueNames(m.graph().output()), std::vector<std::string>{"M_output_0"});
  // Level 0: the model is one node named and typed by its modelName.
  m = ToModel(model, 0);
  ASSERT_EQ(m.graph().node_size(), 1);
  EXPECT_EQ(m.graph().node(0).name(), "M");
  EXPECT_EQ(m.graph().node(0).op_type(), "M");
}

// ATB writes in place (a KV-cache update lists the cache as input and output) and may reuse
// an internal tensor; ONNX needs one writer per name.
TEST(AtbJsonToOnnx, TensorsWrittenTwiceAreRenamed) {
  json layer = {{"opName", "L"}, {"opType", "Layer"}, {"inTensors", {"x", "cache"}}, {"outTensors", {"y"}},
                {"nodes",
                 {{{"opName", "Write_0"}, {"opType", "ReshapeAndCache"}, {"inTensors", {"x", "cache"}},
                   {"outTensors", {"cache"}}},
                  {{"opName", "Read_1"}, {"opType", "Attention"}, {"inTensors", {"x", "cache"}},
                   {"outTensors", {"t"}}},
                  {{"opName", "Again_2"}, {"opType", "Add"}, {"inTensors", {"t", "t"}}, {"outTensors", {"t"}}},
                  {{"opName", "Out_3"}, {"opType", "Copy"}, {"inTensors", {"t"}}, {"outTensors", {"y", "y"}}}}}};
  onnx::ModelProto m = ToModel(layer, -1);
  const auto& g = m.graph();
  EXPECT_EQ(Strings(g.node(0).output()), std::vector<std::string>{"cache#1"});
  EXPECT_EQ(Strings(g.node(1).input()), (std::vector<std::string>{"x", "cache#1"}));
  EXPECT_EQ(Strings(g.node(2).input()), (std::vector<std::string>{"t", "t"}));
  EXPECT_EQ(Strings(g.node(2).output()), std::vector<std::string>{"t#1"});
  EXPECT_EQ(Strings(g.node(3).input()), std::vector<std::string>{"t#1"});
  EXPECT_EQ(Strings(g.node(3).output()), (std::vector<std::string>{"y", "y#1"}));
  EXPECT_EQ(ValueNames(g.output()), std::vector<std::string>{"y#1"});  // the last write
}

TEST(AtbJsonToOnnx, MissingListsAreEmptyAndEmptyNamesAreOptional) {
  json layer = {{"opName", "L"}, {"opType", "Layer"}, {"inTensors", {"x", "x", ""}},
                {"nodes", {{{"opName", "Fill_0"}, {"opType", "Fill"}},
                           {{"opName", "Use_1"}, {"opType", "Use"}, {"inTensors", {"x", ""}}, {"outTensors", {""}}}}}};
  onnx::ModelProto m = ToModel(layer, -1);
  EXPECT_EQ(ValueNames(m.graph().input()), std::vector<std::string>{"x"});  // duplicates and "" dropped
  EXPECT_EQ(m.graph().node(0).input_size(), 0);
  EXPECT_EQ(Strings(m.graph().node(0).output()), std::vector<std::string>{""});  // the checker wants one of them
  EXPECT_EQ(Strings(m.graph().node(1).input()), (std::vector<std::string>{"x", ""}));
  EXPECT_EQ(m.graph().output_size(), 0);
}

TEST(AtbJsonToOnnx, BadInputGivesErrorsNamingTheProblem) {
  EXPECT_TRUE(Contains(ErrorOf(json::array(), -1), "bad.json: the top level must be a JSON object"));
  EXPECT_TRUE(Contains(ErrorOf({{"a", 1}}, -1), "no 'opName' (layer JSON) or 'modelName' (model JSON)"));
  EXPECT_TRUE(Contains(ErrorOf({{"opName", 3}}, -1), "'opName' must be a string, found number"));
  EXPECT_TRUE(Contains(ErrorOf({{"opName", ""}}, -1), "'opName' is empty"));
  EXPECT_TRUE(Contains(ErrorOf({{"opName", "L"}}, -1), "bad.json: the top level (L): 'opType' is missing"));
  EXPECT_TRUE(Contains(ErrorOf({{"opName", "L"}, {"opType", ""}}, 0), "'opType' is empty"));
  EXPECT_TRUE(Contains(ErrorOf({{"opName", "L"}, {"opType", "T"}, {"nodes", 5}}, -1),
              "'nodes' must be an array of node objects, found number"));
  EXPECT_TRUE(Contains(ErrorOf({{"opName", "L"}, {"opType", "T"}, {"nodes", {1}}}, -1),
              "nodes[0]: a node must be a JSON object, found number"));
  EXPECT_TRUE(Contains(ErrorOf({{"opName", "L"}, {"opType", "T"}, {"nodes", {{{"opName", "C_0"}}}}}, -1),
              "nodes[0] (C_0): 'opType' is missing"));
  EXPECT_TRUE(Contains(ErrorOf({{"opName", "L"}, {"opType", "T"}, {"inTensors", "x"}}, -1),
              "'inTensors' must be an array of tensor names, found string"));
  EXPECT_TRUE(Contains(ErrorOf({{"opName", "L"}, {"opType", "T"}, {"outTensors", {"y", 2}}}, -1),
              "'outTensors[1]' must be a tensor name (string), found number"));
  EXPECT_TRUE(Contains(ErrorOf(Nested(), -2), "target level must be -1"));
}

TEST(AtbJsonToOnnx, DeepNestingIsAnErrorNotACrash) {
  json node = {{"opName", "leaf"}, {"opType", "T"}};
  for (int i = 0; i < 60; ++i)
    node = {{"opName", fmt::format("n{}", i)}, {"opType", "T"}, {"nodes", json::array({node})}};
  EXPECT_TRUE(Contains(ErrorOf(node, -1), "nodes nested more than 48 levels deep"));
  EXPECT_EQ(NodeNames(ToModel(node, 2)), std::vector<std::string>{"n57"});  // the walk stops at the level

  json param = 1;
  for (int i = 0; i < 40; ++i) param = {{"p", param}};
  EXPECT_TRUE(Contains(ErrorOf({{"opName", "L"}, {"opType", "T"}, {"param", param}}, -1),
              "nests objects more than 16 levels deep"));
  json list = 1;
  for (int i = 0; i < 40; ++i) list = json::array({list, "s"});
  EXPECT_TRUE(Contains(ErrorOf({{"opName", "L"}, {"opType", "T"}, {"param", {{"l", list}}}}, -1),
              "nests values more than 16 levels deep"));
}

TEST(AtbJsonToOnnxFile, WritesTheOnnxFileBesideTheJson) {
  testing::TempDir dir;
  std::string path = dir.File("layer/1/Bloom7bCommonLayer_3.json");
  testing::WriteBytes(path, Nested().dump() + "\n");
  std::string written = AtbJsonToOnnx(path, 1);
  EXPECT_EQ(written, dir.File("layer/1/Bloom7bCommonLayer_3.onnx"));
  onnx::ModelProto m;
  std::ifstream in(written, std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&in));
  onnx::checker::check_model(m);
  EXPECT_EQ(NodeNames(m), (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(m.metadata_props(0).value(), "Bloom7bCommonLayer_3.json");

  std::ifstream again(written, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
  EXPECT_EQ(AtbJsonFileToOnnxBytes(path, 1), bytes);
  EXPECT_EQ(AtbJsonToOnnxBytes(Nested(), 1, path), bytes);

  std::string odd = dir.File("topology.txt");
  testing::WriteBytes(odd, Nested().dump());
  EXPECT_EQ(AtbJsonToOnnx(odd), odd + ".onnx");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 3);  // no temporaries left
}

TEST(AtbJsonToOnnxFile, BadFilesNameTheFileAndLeaveNoOnnx) {
  testing::TempDir dir;
  auto error_of = [&](const std::string& name, const std::string& bytes, int level = -1) {
    std::string path = dir.File(name);
    testing::WriteBytes(path, bytes);
    try {
      AtbJsonToOnnx(path, level);
    } catch (const Error& e) {
      EXPECT_TRUE(Contains(e.what(), path));
      EXPECT_FALSE(std::filesystem::exists(dir.File(name.substr(0, name.size() - 5) + ".onnx")));
      return std::string(e.what());
    }
    ADD_FAILURE() << name << " converted";
    return std::string();
  };
  EXPECT_TRUE(Contains(error_of("empty.json", ""), "not valid JSON"));
  EXPECT_TRUE(Contains(error_of("trunc.json", R"({"opName": "L", "nodes": [)"), "not valid JSON"));
  EXPECT_TRUE(Contains(error_of("nan.json", R"({"opName": "L", "opType": "T", "param": {"x": NaN}})"),
              "not valid JSON"));
  EXPECT_TRUE(Contains(error_of("huge.json", R"({"opName": "L", "opType": "T", "param": {"x": 1e400}})"),
                       "not valid JSON: number overflow"));
  EXPECT_TRUE(Contains(error_of("deep.json", std::string(100000, '[') + std::string(100000, ']')),
              "JSON nested more than 128 levels deep"));
  EXPECT_TRUE(Contains(error_of("level.json", Nested().dump(), -5), "target level"));
  EXPECT_TRUE(Contains(error_of("type.json", R"({"opName": "L", "opType": "T", "nodes": [{"opName": 1}]})"),
              "nodes[0]: 'opName' must be a string"));
  EXPECT_THROW(AtbJsonToOnnx(dir.File("missing.json")), Error);
  EXPECT_THROW(AtbJsonToOnnx(dir.path().string()), Error);
}

}  // namespace
}  // namespace ait
