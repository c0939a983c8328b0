// GraphOperation: a two-level nested graph computes what running its ops by hand does; ids,
// graph-info JSON, execute counts and the observer's view of ops and kernels.
#include "ait_engine/graph.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "op_test_util.h"

namespace ait::engine {
namespace {

using testing::Make;
using testing::Random;
using testing::Read;
using testing::RunOp;

const Json kAdd = {{"elewiseType", 8}}, kMul = {{"elewiseType", 9}}, kSwish = {{"activationType", 4}};

// Inner(a, b) = (a + b) * b. Slots: a 0, b 1, out 2, internal sum 3.
std::unique_ptr<GraphOperation> Inner() {
  auto g = std::make_unique<GraphOperation>("Inner", Json{{"k", 1}}, 2, 1, 1);
  g->AddNode(CreateOperation("ElewiseOperation", kAdd), {0, 1}, {3});
  g->AddNode(CreateOperation("ElewiseOperation", kMul), {3, 1}, {2});
  return g;
}

// Outer(x, w, y) = swish(Inner(Linear(x, w), y)). Slots: x 0, w 1, y 2, out 3, h 4, z 5.
std::unique_ptr<GraphOperation> Outer() {
  auto g = std::make_unique<GraphOperation>("Outer", Json::object(), 3, 1, 2);
  g->AddNode(CreateOperation("LinearOperation", {{"hasBias", false}}), {0, 1}, {4});
  g->AddNode(Inner(), {4, 2}, {5});
  g->AddNode(CreateOperation("ActivationOperation", kSwish), {5}, {3});
  return g;
}

std::vector<Tensor> Inputs() {
  return {Make(DType::kFloat32, {3, 8}, Random(24, 1)), Make(DType::kFloat32, {5, 8}, Random(40, 2)),
          Make(DType::kFloat32, {3, 5}, Random(15, 3))};
}

class Recorder : public ExecutionObserver {
 public:
  std::vector<std::string> events;
  std::vector<uint64_t> counts;
  void BeforeOperation(const OpEvent& e) override {
    events.push_back("+" + IdString(e.ids) + " " + e.op.type());
    counts.push_back(e.execute_count);
    EXPECT_EQ(e.in.size(), e.op.in_count());
    EXPECT_EQ(e.out.size(), e.op.out_count());
  }
  void AfterOperation(const OpEvent& e) override { events.push_back(fmt::format("-{}", IdString(e.ids))); }
  void BeforeKernel(const OpEvent& e, size_t i, std::string_view name, const std::vector<const Tensor*>&,
                    const std::vector<const Tensor*>&) override {
    events.push_back("k" + IdString(e.ids) + "/" + std::to_string(i) + "_" + std::string(name));
  }
};

TEST(GraphOperation, NestedGraphEqualsOpsByHand) {
  const auto in = Inputs();
  const auto h = RunOp("LinearOperation", {{"hasBias", false}}, {in[0], in[1]});
  const auto sum = RunOp("ElewiseOperation", kAdd, {h[0], in[2]});
  const auto z = RunOp("ElewiseOperation", kMul, {sum[0], in[2]});
  const auto expected = RunOp("ActivationOperation", kSwish, {z[0]});

  auto graph = Outer();
  ASSERT_EQ(graph->InferShape({DescOf(in[0]), DescOf(in[1]), DescOf(in[2])}),
            (std::vector<TensorDesc>{{DType::kFloat32, {3, 5}}}));
  ExecContext ctx;
  EXPECT_EQ(Read(RunOperation(*graph, in, ctx)[0]), Read(expected[0]));

  TopLevelOperation top(3, Outer());
  Recorder rec;
  EXPECT_EQ(Read(top.Run(in, 1, &rec)[0]), Read(expected[0]));
  EXPECT_EQ(Read(top.Run(in, 0, nullptr)[0]), Read(expected[0]));
}

TEST(GraphOperation, ObserverSeesOpsAndKernelsInOrderWithIdPaths) {
  TopLevelOperation top(3, Outer());
  Recorder rec;
  top.Run(Inputs(), 0, &rec);
  const std::vector<std::string> expected = {
      "+3 Outer",  "+3_0 LinearOperation",      "k3_0/0_MatMul",          "-3_0",
      "+3_1 Inner", "+3_1_0 ElewiseOperation", "k3_1_0/0_Add",           "-3_1_0",
      "+3_1_1 ElewiseOperation",               "k3_1_1/0_Mul",           "-3_1_1",
      "-3_1",      "+3_2 ActivationOperation", "k3_2/0_Swish",           "-3_2",
      "-3"};
  EXPECT_EQ(rec.events, expected);
}

TEST(GraphOperation, ExecuteCountIncrementsPerRun) {
  TopLevelOperation top(0, Outer());
  Recorder rec;
  EXPECT_EQ(top.execute_count(), 0u);
  top.Run(Inputs(), 0, &rec);
  top.Run(Inputs(), 0, nullptr);
  top.Run(Inputs(), 0, &rec);
  EXPECT_EQ(top.execute_count(), 3u);
  ASSERT_EQ(rec.counts.size(), 12u);  // 6 operations per run
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(rec.counts[i], 0u);
  for (size_t i = 6; i < 12; ++i) EXPECT_EQ(rec.counts[i], 2u);
}

TEST(GraphOperation, GraphInfo) {
  TopLevelOperation top(3, Outer());
  const Json info = top.GraphInfo();
  EXPECT_EQ(info["opName"], "Outer_3");
  EXPECT_EQ(info["opType"], "Outer");
  EXPECT_EQ(info["inTensorNum"], 3);
  EXPECT_EQ(info["outTensorNum"], 1);
  EXPECT_EQ(info["internalTensorNum"], 2);
  ASSERT_EQ(info["nodes"].size(), 3u);
  const Json& linear = info["nodes"][0];
  EXPECT_EQ(linear["opName"], "LinearOperation_3_0");
  EXPECT_EQ(linear["opType"], "LinearOperation");
  EXPECT_EQ(linear["param"], (Json{{"hasBias", false}}));
  EXPECT_EQ(linear["inTensorIds"], (Json{0, 1}));
  EXPECT_EQ(linear["outTensorIds"], (Json{4}));
  const Json& inner = info["nodes"][1];
  EXPECT_EQ(inner["opName"], "Inner_3_1");
  EXPECT_EQ(inner["opType"], "Inner");
  EXPECT_EQ(inner["param"], (Json{{"k", 1}}));
  EXPECT_EQ(inner["inTensorIds"], (Json{4, 2}));
  EXPECT_EQ(inner["outTensorIds"], (Json{5}));
  EXPECT_EQ(inner["internalTensorNum"], 1);
  ASSERT_EQ(inner["nodes"].size(), 2u);
  EXPECT_EQ(inner["nodes"][1]["opName"], "ElewiseOperation_3_1_1");
  EXPECT_EQ(inner["nodes"][1]["inTensorIds"], (Json{3, 1}));
  EXPECT_EQ(inner["nodes"][1]["outTensorIds"], (Json{2}));
  EXPECT_EQ(info["nodes"][2]["opName"], "ActivationOperation_3_2");
  // A leaf top-level operation reports itself without nodes.
  TopLevelOperation leaf(7, CreateOperation("SoftmaxOperation", {{"axes", {-1}}}));
  EXPECT_EQ(leaf.GraphInfo()["opName"], "SoftmaxOperation_7");
  EXPECT_FALSE(leaf.GraphInfo().contains("nodes"));
}

TEST(GraphOperation, BuilderAssignsIdsByName) {
  GraphBuilder b("G", Json::object(), {"x", "y"}, {"out"});
  b.Add(CreateOperation("ElewiseOperation", kAdd), {"x", "y"}, {"s"});
  b.Add(CreateOperation("ElewiseOperation", kMul), {"s", "y"}, {"out"});
  auto g = b.Build();
  EXPECT_EQ(g->internal_count(), 1u);
  EXPECT_EQ(g->nodes()[0].out_ids, (std::vector<size_t>{3}));
  EXPECT_EQ(g->nodes()[1].in_ids, (std::vector<size_t>{3, 1}));
  EXPECT_EQ(g->nodes()[1].out_ids, (std::vector<size_t>{2}));
  GraphBuilder bad("G", Json::object(), {"x"}, {"out"});
  EXPECT_THROW(bad.Add(CreateOperation("ElewiseOperation", kAdd), {"x", "nope"}, {"out"}), Error);
}

TEST(GraphOperation, RejectsBadWiring) {
  GraphOperation g("G", Json::object(), 2, 1, 1);
  EXPECT_THROW(g.AddNode(CreateOperation("ElewiseOperation", kAdd), {0}, {2}), Error);      // arity
  EXPECT_THROW(g.AddNode(CreateOperation("ElewiseOperation", kAdd), {0, 9}, {2}), Error);   // range
  EXPECT_THROW(g.AddNode(CreateOperation("ElewiseOperation", kAdd), {0, 1}, {1}), Error);   // writes an input
  g.AddNode(CreateOperation("ElewiseOperation", kAdd), {0, 3}, {2});  // reads internal 3, never written
  try {
    g.InferShape({{DType::kFloat32, {2}}, {DType::kFloat32, {2}}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("reads tensor 3 before any node writes it"), std::string::npos) << e.what();
  }
  EXPECT_THROW(g.AddNode(CreateOperation("ElewiseOperation", kAdd), {0, 1}, {2}), Error);  // written twice
  // A node's shape error names the graph and the node.
  auto outer = Outer();
  try {
    outer->InferShape({{DType::kFloat32, {3, 8}}, {DType::kFloat32, {5, 7}}, {DType::kFloat32, {3, 5}}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Outer: node 0: LinearOperation"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ait::engine
