// First-divergence analysis on constructed operations and rows: the verdicts, the root-cause
// choice (earliest, deepest, folded across tokens) and the text / JSON / HTML reports.
#include "ait/divergence.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "compare/report/html_report.h"
#include "compare/report/summary_json.h"
#include "compare/scoring/score_pairing.h"
#include "test_util.h"

namespace ait {
namespace {

using testing::TempDir;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

TensorInfo Info(const std::string& dtype = "torch.float32", double min = -1, double max = 1) {
  TensorInfo info{dtype, "[4]", true, {}};
  info.stats.min = min;
  info.stats.max = max;
  return info;
}

// A scored row for file `name`: cosine and relative L2 error (rel. euclidean = l2^2).
CompareRow Scored(const std::string& name, double cosine, double l2 = 0, double max_rel = 0) {
  CompareRow r;
  r.pair.golden_path = "g/" + name;
  r.pair.my_path = "m/" + name;
  r.golden = Info();
  r.my = Info();
  PairMetrics m;
  m.cosine_similarity = cosine;
  m.relative_euclidean_distance = l2 * l2;
  m.max_relative_error = max_rel;
  r.metrics = m;
  return r;
}

// A row whose my side holds NaN (the original's pre-check fails, no metrics).
CompareRow WithNan(const std::string& name) {
  CompareRow r = Scored(name, 1);
  r.metrics.reset();
  r.my->stats.nan_count = 3;
  r.fail_reason = "my_data includes NAN or inf.";
  return r;
}

TensorPair Pair(const std::string& name) {
  TensorPair p;
  p.golden_path = "g/" + name;
  p.my_path = "m/" + name;
  return p;
}

OpPair Op(const std::string& token, const std::string& name, const std::string& op_id, int depth,
          std::vector<std::string> inputs, std::vector<std::string> outputs) {
  OpPair op;
  op.token_id = token;
  op.my_name = op.golden_name = name;
  op.my_type = op.golden_type = name.substr(0, name.find('_'));
  op.op_id = op_id;
  op.depth = depth;
  for (const auto& f : inputs) op.inputs.push_back(Pair(f));
  for (const auto& f : outputs) op.outputs.push_back(Pair(f));
  return op;
}

std::vector<std::string> Names(const OpPairing& ops, const DivergenceReport& r) {
  std::vector<std::string> out;
  for (const RootCause& rc : r.root_causes) out.push_back(ops.ops[rc.op].my_name);
  return out;
}

TEST(DistanceThreshold, IsTheRelativeL2DistanceACosineStandsFor) {
  EXPECT_NEAR(DistanceThreshold(0.99), std::sqrt(0.02), 1e-12);
  EXPECT_EQ(DistanceThreshold(1.0), 0.0);
  EXPECT_EQ(DistanceThreshold(1.5), 0.0);
}

TEST(ScoreTensor, DistanceSeesDirectionAndScale) {
  TensorScore rotated = ScoreTensor(Scored("a", 0.98, 0.05));
  EXPECT_EQ(rotated.state, TensorScore::State::kScored);
  EXPECT_NEAR(rotated.distance, std::sqrt(0.04), 1e-12);
  // A doubled tensor keeps cosine 1; only the relative L2 error shows it.
  TensorScore doubled = ScoreTensor(Scored("b", 1.0, 1.0));
  EXPECT_EQ(doubled.cosine, 1.0);
  EXPECT_EQ(doubled.relative_l2, 1.0);
  EXPECT_EQ(doubled.distance, 1.0);
}

TEST(ScoreTensor, NanOnMySideOnlyIsAFindingOtherFailuresAreUnscored) {
  TensorScore nan = ScoreTensor(WithNan("a"));
  EXPECT_EQ(nan.state, TensorScore::State::kNonFinite);
  EXPECT_EQ(nan.my_nan, 3);

  CompareRow both = WithNan("b");
  both.golden->stats.nan_count = 3;
  both.fail_reason = "golden_data includes NAN or inf. my_data includes NAN or inf.";
  EXPECT_EQ(ScoreTensor(both).state, TensorScore::State::kUnscored);
  EXPECT_EQ(ScoreTensor(both).reason, both.fail_reason);

  CompareRow shape = Scored("c", 1);
  shape.metrics.reset();
  shape.fail_reason = "data shape doesn't match.";
  EXPECT_EQ(ScoreTensor(shape).state, TensorScore::State::kUnscored);

  CompareRow int8 = Scored("d", 1);
  int8.my->dtype = "torch.int8";
  EXPECT_EQ(ScoreTensor(int8).state, TensorScore::State::kUnscored);
}

TEST(ScoreTensor, AttentionMasksAtTheDtypeLimitOnBothSidesAreUnscored) {
  // fp32 golden masks with -FLT_MAX, fp16 with -65504: cosine 1 but relative L2 1.
  CompareRow masked = Scored("qk", 1.0, 1.0);
  masked.golden = Info("torch.float32", -std::numeric_limits<float>::max(), 0.04);
  masked.my = Info("torch.float16", -65504, 0.04);
  TensorScore t = ScoreTensor(masked);
  EXPECT_EQ(t.state, TensorScore::State::kUnscored);
  EXPECT_NE(t.reason.find("dtype-limit"), std::string::npos);
  // One side saturating alone is a finding (an overflow), not a mask.
  masked.golden = Info("torch.float32", -70000, 0.04);
  EXPECT_EQ(ScoreTensor(masked).state, TensorScore::State::kScored);
}

TEST(ScoreTensor, AnyDifferenceInIntegerTensorsIsOff) {
  CompareRow ids = Scored("ids", 1.0, 0.05);
  ids.golden = Info("torch.int64", 21, 21);
  ids.my = Info("torch.int64", 23, 23);
  EXPECT_TRUE(std::isinf(ScoreTensor(ids).distance));
  ids.my = Info("torch.int64", 21, 21);
  ids.metrics->relative_euclidean_distance = 0;
  EXPECT_EQ(ScoreTensor(ids).distance, 0.0);
}

TEST(AnalyzeDivergence, NamesTheOperationWhoseInputsAreCloseAndOutputIsOff) {
  OpPairing ops;
  ops.ops = {Op("0", "Norm_0", "0", 0, {"x"}, {"a"}), Op("0", "Linear_1", "1", 0, {"a"}, {"b"}),
             Op("0", "Act_2", "2", 0, {"b"}, {"c"})};
  std::vector<CompareRow> rows = {Scored("x", 1), Scored("a", 0.99999), Scored("b", 0.9, 0.45, 3.0),
                                  Scored("c", 0.88, 0.5)};
  DivergenceReport r = AnalyzeDivergence(ops, rows, {});
  EXPECT_EQ(r.ops[0].verdict, Verdict::kClean);
  EXPECT_EQ(r.ops[1].verdict, Verdict::kIntroducing);
  EXPECT_EQ(r.ops[1].cause, "diverged");
  EXPECT_EQ(r.ops[2].verdict, Verdict::kPropagating);
  EXPECT_EQ(Names(ops, r), std::vector<std::string>{"Linear_1"});
  EXPECT_DOUBLE_EQ(*r.ops[1].outputs.cosine, 0.9);
  EXPECT_DOUBLE_EQ(*r.ops[1].outputs.max_relative_error, 3.0);
  EXPECT_EQ(r.ops[1].outputs.worst, "m/b");
  EXPECT_EQ(r.clean, 1u);
  EXPECT_EQ(r.introducing, 1u);
  EXPECT_EQ(r.propagating, 1u);
  std::string text = FormatRootCauses(ops, r);
  EXPECT_NE(text.find("root cause #1: Linear_1 [Linear] (token 0, op 1): diverged"), std::string::npos) << text;
}

// compare --opcheck: Act_2 only carries the error Linear_1 introduced (propagating by drift),
// but fails its own check: it introduces error too. Linear_1 passes its own: precision-limited.
TEST(AnalyzeDivergence, AnOperationFailingItsOwnCheckIntroducesWhateverItInherits) {
  OpPairing ops;
  ops.ops = {Op("0", "Norm_0", "0", 0, {"x"}, {"a"}), Op("0", "Linear_1", "1", 0, {"a"}, {"b"}),
             Op("0", "Act_2", "2", 0, {"b"}, {"c"}), Op("0", "Add_3", "3", 0, {"c"}, {"d"})};
  std::vector<CompareRow> rows = {Scored("x", 1), Scored("a", 0.99999), Scored("b", 0.9, 0.45, 3.0),
                                  Scored("c", 0.88, 0.5), Scored("d", 0.88, 0.5)};
  LocalChecks checks(ops.ops.size());
  checks[1] = LocalCheck{false, "every output within its dtype's standard"};
  checks[2] = LocalCheck{true, "output 0 (float16): 12% of 4 elements within 0.001 (needs 99.9%)"};
  DivergenceReport plain = AnalyzeDivergence(ops, rows, {});
  EXPECT_EQ(plain.ops[2].verdict, Verdict::kPropagating);
  DivergenceReport r = AnalyzeDivergence(ops, rows, {}, nullptr, &checks);
  EXPECT_EQ(r.ops[2].verdict, Verdict::kIntroducing);
  EXPECT_EQ(r.ops[2].cause, "opcheck");
  EXPECT_EQ(r.ops[3].verdict, Verdict::kPropagating);
  EXPECT_FALSE(r.ops[3].local_check);
  EXPECT_EQ(Names(ops, r), (std::vector<std::string>{"Linear_1", "Act_2"}));
  ASSERT_EQ(r.root_causes[0].checked_by, std::optional<size_t>(1));
  EXPECT_EQ(r.introducing, 2u);
  EXPECT_EQ(r.propagating, 1u);
  std::string text = FormatRootCauses(ops, r);
  EXPECT_NE(text.find("opcheck PASS on its own inputs: precision-limited"), std::string::npos) << text;
  EXPECT_NE(text.find("root cause #2: Act_2 [Act] (token 0, op 2): opcheck (fails its own check"), std::string::npos)
      << text;
}

// A kernel named as root cause shows the check of the operation around it.
TEST(AnalyzeDivergence, AKernelRootCauseShowsItsOperationsCheck) {
  OpPairing ops;
  ops.ops = {Op("0", "Linear_1:MatMul", "1_0", 1, {"a"}, {"k"}), Op("0", "Linear_1", "1", 0, {"a"}, {"k"})};
  ops.ops[1].leaf = false;
  std::vector<CompareRow> rows = {Scored("a", 1), Scored("k", 0.5, 1.0)};
  LocalChecks checks(ops.ops.size());
  checks[1] = LocalCheck{true, "output 0: 0% of 4 elements within 0.001"};
  DivergenceReport r = AnalyzeDivergence(ops, rows, {}, nullptr, &checks);
  EXPECT_EQ(Names(ops, r), std::vector<std::string>{"Linear_1:MatMul"});
  ASSERT_EQ(r.root_causes[0].checked_by, std::optional<size_t>(1));
  std::string text = FormatRootCauses(ops, r);
  EXPECT_NE(text.find("opcheck FAILED on its own inputs (its operation Linear_1): a wrong kernel"), std::string::npos)
      << text;
}

// Two runs of one deterministic computation: Norm and Linear turn identical inputs into
// identical outputs in token 0, so the floor is zero; in token 1 Act_2 gets identical inputs
// and gives an output 1% off, far inside the threshold: the error is born there.
TEST(AnalyzeDivergence, WithAZeroFloorAnyDifferenceBehindIdenticalInputsIsBorn) {
  OpPairing ops;
  ops.ops = {Op("0", "Norm_0", "0", 0, {"x0"}, {"a0"}), Op("0", "Linear_1", "1", 0, {"a0"}, {"b0"}),
             Op("0", "Act_2", "2", 0, {"b0"}, {"c0"}),  Op("1", "Norm_0", "0", 0, {"x1"}, {"a1"}),
             Op("1", "Linear_1", "1", 0, {"a1"}, {"b1"}), Op("1", "Act_2", "2", 0, {"b1"}, {"c1"}),
             Op("1", "Out_3", "3", 0, {"c1"}, {"d1"})};
  std::vector<CompareRow> rows = {Scored("x0", 1), Scored("a0", 1),        Scored("b0", 1),
                                  Scored("c0", 1), Scored("x1", 1),        Scored("a1", 1),
                                  Scored("b1", 1), Scored("c1", 0.99995, 0.01), Scored("d1", 0.9999, 0.012)};
  DivergenceReport r = AnalyzeDivergence(ops, rows, {});
  EXPECT_EQ(r.floor, "zero");
  EXPECT_EQ(r.ops[5].verdict, Verdict::kIntroducing);
  EXPECT_EQ(r.ops[5].cause, "exact");
  EXPECT_EQ(r.ops[6].verdict, Verdict::kPropagating);  // within threshold, carried in
  EXPECT_EQ(Names(ops, r), std::vector<std::string>{"Act_2"});
  EXPECT_NE(FormatRootCauses(ops, r).find("noise floor: zero"), std::string::npos);
}

// Another implementation on each side (an ATB operation against a torch module, a quantized
// Linear against a float one) may agree bit for bit on some inputs and not on others: no floor.
TEST(AnalyzeDivergence, TheZeroFloorNeedsTheSameOperationTypeOnBothSides) {
  OpPairing ops;
  ops.ops = {Op("0", "Norm_0", "0", 0, {"x0"}, {"a0"}), Op("0", "Linear_1", "1", 0, {"a0"}, {"b0"}),
             Op("1", "Norm_0", "0", 0, {"x1"}, {"a1"}), Op("1", "Linear_1", "1", 0, {"a1"}, {"b1"})};
  for (OpPair& op : ops.ops) op.golden_type = "Torch" + op.my_type;
  std::vector<CompareRow> rows = {Scored("x0", 1), Scored("a0", 1),     Scored("b0", 1),
                                  Scored("x1", 1), Scored("a1", 0.99999, 0.004), Scored("b1", 0.99999, 0.004)};
  DivergenceReport r = AnalyzeDivergence(ops, rows, {});
  EXPECT_EQ(r.floor, "threshold");
  EXPECT_TRUE(r.root_causes.empty());
  EXPECT_EQ(r.ops[2].verdict, Verdict::kClean);
  EXPECT_EQ(NoRootCauseReason(r), "no root cause: all operations within threshold");
}

// One type seen exact is evidence for that type only: another type's small difference behind
// identical inputs stays inside the threshold rule.
TEST(AnalyzeDivergence, OneExactTypeGivesAZeroFloorForThatTypeOnly) {
  OpPairing ops;
  ops.ops = {Op("0", "Norm_0", "0", 0, {"x0"}, {"a0"}), Op("1", "Norm_0", "0", 0, {"x1"}, {"a1"}),
             Op("1", "Linear_1", "1", 0, {"x1"}, {"b1"})};
  std::vector<CompareRow> rows = {Scored("x0", 1), Scored("a0", 1), Scored("x1", 1), Scored("a1", 0.99999, 0.004),
                                  Scored("b1", 0.99999, 0.004)};
  DivergenceReport r = AnalyzeDivergence(ops, rows, {});
  EXPECT_EQ(r.floor, "zero for 1 operation type(s)");
  EXPECT_EQ(r.ops[1].cause, "exact");
  EXPECT_EQ(r.ops[2].verdict, Verdict::kClean);
  EXPECT_EQ(Names(ops, r), std::vector<std::string>{"Norm_0"});
}

// Expected error (rounding, quantization) is ranked, not claimed: each leaf's local error is its
// output distance beyond its inputs', largest first, layers and root causes left out.
TEST(AnalyzeDivergence, ContributorsRankTheLocalErrorOfLeaves) {
  OpPairing ops;
  ops.ops = {Op("0", "Norm_0", "0_0", 1, {"x"}, {"a"}), Op("0", "Linear_1", "0_1", 1, {"a"}, {"b"}),
             Op("0", "Act_2", "0_2", 1, {"b"}, {"c"}), Op("0", "Layer_0", "0", 0, {"x"}, {"c"})};
  ops.ops[3].leaf = false;
  std::vector<CompareRow> rows = {Scored("x", 0.999999, 0.001), Scored("a", 0.99999, 0.003),
                                  Scored("b", 0.9999, 0.013), Scored("c", 0.9999, 0.012)};
  DivergenceReport r = AnalyzeDivergence(ops, rows, {});
  EXPECT_TRUE(r.root_causes.empty());
  ASSERT_EQ(r.contributors, (std::vector<size_t>{1, 0}));  // Act_2 adds nothing; the layer is no leaf
  EXPECT_NEAR(*r.ops[1].local_error, *r.ops[1].outputs.distance - *r.ops[1].inputs.distance, 1e-12);
  EXPECT_DOUBLE_EQ(*r.ops[2].local_error, 0.0);
  const std::string text = FormatRootCauses(ops, r);
  EXPECT_NE(text.find("Largest error contributors"), std::string::npos) << text;
  EXPECT_NE(text.find("1. Linear_1 [Linear]"), std::string::npos) << text;
}

TEST(AnalyzeDivergence, PrefersTheDeepestOperationAndFoldsTokens) {
  // Layer_1 > Linear_1_2 > its kernel, all off with clean inputs, in completion order; twice.
  OpPairing ops;
  for (const std::string t : {"0", "1"}) {
    ops.ops.push_back(Op(t, "Linear_1_2:MatMul", "1_2_0", 2, {t + "x"}, {t + "y"}));
    ops.ops.push_back(Op(t, "Linear_1_2", "1_2", 1, {t + "x"}, {t + "y"}));
    ops.ops.push_back(Op(t, "Layer_1", "1", 0, {t + "x"}, {t + "z"}));
  }
  std::vector<CompareRow> rows;
  for (const std::string t : {"0", "1"})
    for (auto row : {Scored(t + "x", 1), Scored(t + "y", 0.5, 1.0), Scored(t + "z", 0.6, 0.9)}) rows.push_back(row);
  DivergenceReport r = AnalyzeDivergence(ops, rows, {});
  EXPECT_EQ(r.introducing, 6u);
  ASSERT_EQ(r.root_causes.size(), 1u);
  EXPECT_EQ(r.root_causes[0].op, 0u);
  EXPECT_EQ(r.root_causes[0].tokens, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(r.root_causes[0].occurrences, (std::vector<size_t>{0, 3}));
  EXPECT_TRUE(r.ops[3].root_cause);
  EXPECT_FALSE(r.ops[1].root_cause);
  EXPECT_NE(FormatRootCauses(ops, r).find("also tokens 1"), std::string::npos);
}

TEST(AnalyzeDivergence, ALayerIsTheRootCauseWhenNothingInsideItGoesOff) {
  OpPairing ops;
  ops.ops = {Op("0", "Linear_1_0", "1_0", 1, {"x"}, {"a"}), Op("0", "Layer_1", "1", 0, {"x"}, {"b"}),
             Op("0", "Norm_2", "2", 0, {"b"}, {"c"})};
  DivergenceReport r =
      AnalyzeDivergence(ops, {Scored("x", 1), Scored("a", 1), Scored("b", 1, 1), Scored("c", 0.98, 0.2)}, {});
  EXPECT_EQ(Names(ops, r), std::vector<std::string>{"Layer_1"});
  EXPECT_EQ(r.ops[2].verdict, Verdict::kPropagating);
}

TEST(AnalyzeDivergence, NanFromFiniteInputsIntroducesNanFromNanPropagates) {
  OpPairing ops;
  ops.ops = {Op("0", "Act_0", "0", 0, {"x"}, {"a"}), Op("0", "Mul_1", "1", 0, {"a"}, {"b"}),
             Op("0", "Norm_2", "2", 0, {"b"}, {"c"})};
  // The NaN op's inputs are off already (finite): NaN still starts there.
  DivergenceReport r = AnalyzeDivergence(ops, {Scored("x", 0.5, 0.8), WithNan("a"), WithNan("b"), Scored("c", 0.3)}, {});
  EXPECT_EQ(r.ops[0].verdict, Verdict::kIntroducing);
  EXPECT_EQ(r.ops[0].cause, "nonfinite");
  EXPECT_EQ(r.ops[0].outputs.nan, 3);
  EXPECT_EQ(r.ops[1].verdict, Verdict::kPropagating);
  EXPECT_EQ(r.ops[2].verdict, Verdict::kPropagating);
  EXPECT_EQ(Names(ops, r), std::vector<std::string>{"Act_0"});
  EXPECT_NE(FormatRootCauses(ops, r).find("output has 3 NaN, 0 inf"), std::string::npos);
}

TEST(AnalyzeDivergence, DriftAcrossTheThresholdIsNotARootCauseAJumpIs) {
  OpPairing ops;
  ops.ops = {Op("0", "A_0", "0", 0, {"x"}, {"a"}), Op("0", "B_1", "1", 0, {"a"}, {"b"}),
             Op("0", "C_2", "2", 0, {"b"}, {"c"})};
  // 0.12 in (within 0.1414) -> 0.15 out: carried error, no jump. Then 0.15 -> 0.9: amplified.
  DivergenceReport r =
      AnalyzeDivergence(ops, {Scored("x", 1, 0.1), Scored("a", 1, 0.12), Scored("b", 1, 0.15), Scored("c", 1, 0.9)}, {});
  EXPECT_EQ(r.ops[0].verdict, Verdict::kClean);
  EXPECT_EQ(r.ops[1].verdict, Verdict::kPropagating);
  EXPECT_NE(r.ops[1].why.find("no jump"), std::string::npos);
  EXPECT_EQ(r.ops[2].verdict, Verdict::kIntroducing);
  EXPECT_EQ(r.ops[2].cause, "amplified");
  EXPECT_EQ(Names(ops, r), std::vector<std::string>{"C_2"});
  // Within normal amplification (4x) it propagates.
  r = AnalyzeDivergence(ops, {Scored("x", 1, 0.1), Scored("a", 1, 0.12), Scored("b", 1, 0.15), Scored("c", 1, 0.55)}, {});
  EXPECT_EQ(r.ops[2].verdict, Verdict::kPropagating);
  EXPECT_TRUE(r.root_causes.empty());
  EXPECT_NE(FormatRootCauses(ops, r).find("no root cause found"), std::string::npos);
}

TEST(AnalyzeDivergence, IdsThatFlipOnSlightlyDifferentLogitsAreNoRootCause) {
  OpPairing ops;
  ops.ops = {Op("0", "ArgMax_0", "0", 0, {"logits"}, {"ids"})};
  CompareRow ids = Scored("ids", 1.0, 0.05);
  ids.golden = Info("torch.int64", 21, 21);
  ids.my = Info("torch.int64", 23, 23);
  DivergenceReport r = AnalyzeDivergence(ops, {Scored("logits", 0.99999, 0.002), ids}, {});
  EXPECT_EQ(r.ops[0].verdict, Verdict::kPropagating);
  EXPECT_TRUE(r.root_causes.empty());
  // From bit-identical inputs, a different id is the operation's own doing.
  r = AnalyzeDivergence(ops, {Scored("logits", 1.0, 0.0), ids}, {});
  EXPECT_EQ(r.ops[0].verdict, Verdict::kIntroducing);
}

TEST(AnalyzeDivergence, WithoutInputsTheFirstOffOutputIntroduces) {
  OpPairing ops;
  ops.ops = {Op("0", "A_0", "0", 0, {}, {"a"}), Op("0", "B_1", "1", 0, {}, {"b"}), Op("0", "C_2", "2", 0, {}, {"c"}),
             Op("1", "B_1", "1", 0, {}, {"1b"})};
  DivergenceReport r =
      AnalyzeDivergence(ops, {Scored("a", 1), Scored("b", 0.5), Scored("c", 0.4), Scored("1b", 0.5)}, {});
  EXPECT_EQ(r.ops[1].cause, "first-off");
  EXPECT_EQ(r.ops[2].verdict, Verdict::kPropagating);
  EXPECT_EQ(r.ops[3].verdict, Verdict::kPropagating);  // an earlier token already went off
  EXPECT_EQ(Names(ops, r), std::vector<std::string>{"B_1"});
}

TEST(AnalyzeDivergence, UnscoredOutputsGiveNoVerdictAndMissingRowsCountAsUnscored) {
  OpPairing ops;
  ops.ops = {Op("0", "QK_0", "0", 0, {"x"}, {"mask"}), Op("0", "Softmax_1", "1", 0, {"mask"}, {"p"})};
  CompareRow masked = Scored("mask", 1, 1);
  masked.golden = Info("torch.float32", -std::numeric_limits<float>::max(), 1);
  masked.my = Info("torch.float16", -65504, 1);
  DivergenceReport r = AnalyzeDivergence(ops, {Scored("x", 1), masked}, {});  // no row for "p"
  EXPECT_EQ(r.ops[0].verdict, Verdict::kUnscored);
  EXPECT_EQ(r.ops[1].verdict, Verdict::kUnscored);
  EXPECT_EQ(r.unscored, 2u);
  EXPECT_TRUE(r.root_causes.empty());
  EXPECT_EQ(NoRootCauseReason(r), "no root cause: no operation output could be scored");
  EXPECT_NE(FormatRootCauses(ops, r).find(NoRootCauseReason(r)), std::string::npos);
  EXPECT_EQ(NoRootCauseReason(AnalyzeDivergence(OpPairing{}, {}, {})),
            "no root cause: the dumps hold no operation outputs to analyse");
}

TEST(AnalyzeDivergence, ACleanRunHasNoRootCause) {
  OpPairing ops;
  ops.ops = {Op("0", "A_0", "0", 0, {"x"}, {"a"}), Op("0", "B_1", "1", 0, {"a"}, {"b"})};
  DivergenceReport r = AnalyzeDivergence(ops, {Scored("x", 1), Scored("a", 0.9999, 0.01), Scored("b", 0.999, 0.04)}, {});
  EXPECT_EQ(r.clean, 2u);
  EXPECT_TRUE(r.root_causes.empty());
  EXPECT_NE(FormatRootCauses(ops, r).find("no root cause: all operations within threshold"), std::string::npos);
}

TEST(AnalyzeDivergence, ThresholdComesFromTheOptionsAndCandidatesAreCapped) {
  OpPairing ops;
  std::vector<CompareRow> rows;
  for (int i = 0; i < 5; ++i) {
    std::string n = std::to_string(i);
    ops.ops.push_back(Op("0", "Op_" + n, n, 0, {"in" + n}, {"out" + n}));
    rows.push_back(Scored("in" + n, 1));
    rows.push_back(Scored("out" + n, 0.995));
  }
  EXPECT_TRUE(AnalyzeDivergence(ops, rows, {}).root_causes.empty());  // 0.995 passes 0.99
  DivergenceOptions strict;
  strict.cosine_threshold = 0.999;
  strict.max_root_causes = 3;
  DivergenceReport r = AnalyzeDivergence(ops, rows, strict);
  EXPECT_EQ(Names(ops, r), (std::vector<std::string>{"Op_0", "Op_1", "Op_2"}));
  EXPECT_EQ(r.root_causes_left_out, 2u);
  EXPECT_NEAR(r.distance_threshold, std::sqrt(0.002), 1e-12);
}

TEST(AnalyzeDivergence, TorchModulesNestByName) {
  OpPairing ops;
  ops.ops = {Op("0", "root.layers.0.mlp", "", 3, {"x"}, {"a"}), Op("0", "root.layers.0", "", 2, {"x"}, {"b"})};
  DivergenceReport r = AnalyzeDivergence(ops, {Scored("x", 1), Scored("a", 0.1), Scored("b", 0.2)}, {});
  EXPECT_EQ(Names(ops, r), std::vector<std::string>{"root.layers.0.mlp"});
}

// A cross-dtype run (another type name on the golden side, so no zero floor): `layers` layers
// of Norm -> Linear -> Act per token, each operation adding ~1e-4 of rounding error to what
// its input carries; `fault` (an operation name) adds `size` instead. Operations are leaves
// inside their layer, which is no leaf.
struct Chain {
  OpPairing ops;
  std::vector<CompareRow> rows;
};

Chain CrossDtypeChain(int layers, const std::string& fault = "", double size = 0) {
  Chain c;
  for (const std::string token : {"0", "1"}) {
    std::string in = "x" + token;
    double distance = 2e-4;
    c.rows.push_back(Scored(in, 1 - distance * distance / 2, distance));
    for (int l = 0; l < layers; ++l) {
      const std::string layer_in = in;
      int k = 0;
      for (const std::string type : {"Norm", "Linear", "Act"}) {
        const std::string name = fmt::format("{}_{}_{}", type, l, k);
        const std::string out = name + "." + token;
        OpPair op = Op(token, name, fmt::format("{}_{}", l, k), 1, {in}, {out});
        op.golden_type = "Torch" + op.my_type;
        op.layer = fmt::format("Layer_{}", l);
        c.ops.ops.push_back(op);
        // Rounding adds in quadrature, a little more in some operations than others.
        const double added = name == fault ? size : 1e-4 * (1 + 0.3 * ((l + k) % 3));
        distance = std::sqrt(distance * distance + added * added) + (name == fault ? 0 : added / 2);
        c.rows.push_back(Scored(out, 1 - distance * distance / 2, distance));
        in = out;
        ++k;
      }
      OpPair layer = Op(token, fmt::format("Layer_{}", l), std::to_string(l), 0, {layer_in}, {in});
      layer.golden_type = "TorchLayer";
      layer.leaf = false;
      c.ops.ops.push_back(layer);
    }
  }
  return c;
}

// Across dtypes no operation is exact, but each type's local error is alike from layer to layer:
// a 3 % fault far inside the threshold stands out against it, and what it carries downstream
// (inputs already off the floor) is no second root cause.
TEST(AnalyzeDivergence, TheTypeFloorNamesASmallFaultAcrossDtypes) {
  Chain clean = CrossDtypeChain(6);
  DivergenceReport r = AnalyzeDivergence(clean.ops, clean.rows, {});
  EXPECT_EQ(r.floor, "per type");
  EXPECT_TRUE(r.root_causes.empty()) << FormatRootCauses(clean.ops, r);
  EXPECT_FALSE(r.contributors.empty());
  ASSERT_TRUE(r.ops[1].expected_local_error.has_value());
  EXPECT_GT(*r.ops[1].expected_local_error, *r.ops[1].local_error);
  EXPECT_TRUE(r.ops[1].expected_from == "type Linear (6 operations)" ||
              r.ops[1].expected_from.starts_with("all leaf operations"))
      << r.ops[1].expected_from;

  Chain faulty = CrossDtypeChain(6, "Linear_2_1", 0.03);
  r = AnalyzeDivergence(faulty.ops, faulty.rows, {});
  ASSERT_EQ(Names(faulty.ops, r), std::vector<std::string>{"Linear_2_1"}) << FormatRootCauses(faulty.ops, r);
  const OpDivergence& d = r.ops[r.root_causes[0].op];
  EXPECT_EQ(d.cause, "outlier");
  EXPECT_EQ(r.root_causes[0].tokens, (std::vector<std::string>{"0", "1"}));
  EXPECT_LT(*d.outputs.distance, r.distance_threshold);  // the fixed threshold alone sees nothing
  EXPECT_NE(FormatRootCauses(faulty.ops, r).find("noise floor: per type"), std::string::npos);
  // The layer around it is no root cause: the fault inside it is.
  EXPECT_EQ(std::count_if(r.ops.begin(), r.ops.end(), [](const OpDivergence& o) { return o.root_cause; }), 2);
}

// Past 512 samples a reference is read at a stride (the analysis stays linear in the number of
// operations); the fault still stands out, and the clean run still claims nothing.
TEST(AnalyzeDivergence, ManyOperationsAreJudgedTheSameWay) {
  Chain faulty = CrossDtypeChain(200, "Act_100_2", 0.1);
  DivergenceReport r = AnalyzeDivergence(faulty.ops, faulty.rows, {});
  EXPECT_EQ(Names(faulty.ops, r), std::vector<std::string>{"Act_100_2"}) << FormatRootCauses(faulty.ops, r);
  Chain clean = CrossDtypeChain(200);
  EXPECT_TRUE(AnalyzeDivergence(clean.ops, clean.rows, {}).root_causes.empty());
}

// A layer's normal local error is the quadrature sum of what is normal for its operations.
TEST(AnalyzeDivergence, ALayerExpectsTheErrorOfItsOperations) {
  Chain c = CrossDtypeChain(6);
  DivergenceReport r = AnalyzeDivergence(c.ops, c.rows, {});
  const size_t layer = 3;  // Layer_0 of token 0, after its three operations
  ASSERT_EQ(c.ops.ops[layer].my_name, "Layer_0");
  double sum = 0;
  for (size_t i = 0; i < layer; ++i) sum += *r.ops[i].expected_local_error * *r.ops[i].expected_local_error;
  ASSERT_TRUE(r.ops[layer].expected_local_error.has_value());
  EXPECT_NEAR(*r.ops[layer].expected_local_error, std::sqrt(sum), 1e-12);
  EXPECT_EQ(r.ops[layer].expected_from, "its 3 inner operation(s)");
}

// With too few operations to tell what is normal, only the fixed threshold applies.
TEST(AnalyzeDivergence, TheTypeFloorNeedsOperationsToCompareWith) {
  Chain c = CrossDtypeChain(1, "Linear_0_1", 0.03);
  c.ops.ops.resize(4);  // one token: three operations and their layer
  DivergenceReport r = AnalyzeDivergence(c.ops, c.rows, {});
  EXPECT_EQ(r.floor, "threshold");
  EXPECT_TRUE(r.root_causes.empty());
}

// A peer (the golden model run at my dtype) tells each operation's own normal error: an
// operation that adds 4x its peer's is named; one whose peer adds as much is not, where the
// type floor alone would name it.
TEST(AnalyzeDivergence, APeerSetsTheFloorOperationByOperation) {
  Chain c = CrossDtypeChain(6, "Linear_2_1", 0.01);
  DivergenceReport mine = AnalyzeDivergence(c.ops, c.rows, {});
  ASSERT_EQ(Names(c.ops, mine), std::vector<std::string>{"Linear_2_1"});

  // The peer's local error of each operation as the clean chain has it ...
  Chain clean = CrossDtypeChain(6);
  DivergenceReport peer_report = AnalyzeDivergence(clean.ops, clean.rows, {});
  PeerFloor peer = PeerFloorFor(c.ops, clean.ops, peer_report);
  ASSERT_EQ(peer.local_error.size(), c.ops.ops.size());
  EXPECT_GT(peer.leaf_median, 0);
  DivergenceReport r = AnalyzeDivergence(c.ops, c.rows, {}, &peer);
  EXPECT_EQ(r.floor, "peer");
  EXPECT_EQ(Names(c.ops, r), std::vector<std::string>{"Linear_2_1"});
  EXPECT_EQ(r.ops[r.root_causes[0].op].expected_from, "peer");

  // ... and a peer in which that operation adds as much: dtype noise, not a finding.
  Chain same = CrossDtypeChain(6, "Linear_2_1", 0.01);
  peer = PeerFloorFor(c.ops, same.ops, AnalyzeDivergence(same.ops, same.rows, {}));
  r = AnalyzeDivergence(c.ops, c.rows, {}, &peer);
  EXPECT_TRUE(r.root_causes.empty()) << FormatRootCauses(c.ops, r);
}

// The peer is matched by golden name and token; operations it lacks keep the type floor.
TEST(PeerFloorFor, MatchesByGoldenNameAndToken) {
  Chain mine = CrossDtypeChain(3), peer = CrossDtypeChain(3);
  peer.ops.ops.erase(peer.ops.ops.begin());  // the peer has no Norm_0_0 in token 0
  DivergenceReport peer_report = AnalyzeDivergence(peer.ops, peer.rows, {});
  PeerFloor floor = PeerFloorFor(mine.ops, peer.ops, peer_report);
  EXPECT_FALSE(floor.local_error[0].has_value());
  ASSERT_TRUE(floor.local_error[1].has_value());
  EXPECT_DOUBLE_EQ(*floor.local_error[1], *peer_report.ops[0].local_error);
  DivergenceReport r = AnalyzeDivergence(mine.ops, mine.rows, {}, &floor);
  EXPECT_EQ(r.floor, "peer, per type");
  EXPECT_NE(r.ops[0].expected_from, "peer");
}

TEST(OutputPairs, EachOutputFileOnceRenumbered) {
  OpPairing ops;
  ops.ops = {Op("0", "K", "1_0", 1, {"x"}, {"y"}), Op("0", "O", "1", 0, {"x"}, {"y", "z"})};
  auto pairs = OutputPairs(ops);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].my_path, "m/y");
  EXPECT_EQ(pairs[1].my_path, "m/z");
  EXPECT_EQ(pairs[1].data_id, "1");
}

TEST(ScoreForAnalysis, ReportPairsFirstThenTheRestOnce) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "g");
  std::filesystem::create_directories(dir.path() / "m");
  for (const char* f : {"g/x.npy", "m/x.npy", "g/y.npy", "m/y.npy"})
    WriteTensor(dir.File(f), testing::RandomFloat32({4}, 1));
  OpPairing ops;
  OpPair op = Op("0", "O", "0", 0, {"x.npy"}, {"y.npy"});
  for (auto* side : {&op.inputs, &op.outputs})
    for (TensorPair& p : *side) {
      p.golden_path = dir.File(p.golden_path);
      p.my_path = dir.File(p.my_path);
    }
  ops.ops = {op};
  auto rows = ScoreForAnalysis({op.outputs[0]}, ops, {});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].pair.my_path, dir.File("m/y.npy"));
  EXPECT_EQ(rows[1].pair.my_path, dir.File("m/x.npy"));
  ASSERT_TRUE(rows[0].metrics);
  EXPECT_DOUBLE_EQ(rows[0].metrics->cosine_similarity, 1.0);
}

TEST(DivergenceReports, PathsShareTheCsvTimestamp) {
  ReportPaths p = ReportPathsFor("/out/ait_cmp_report_20250101120000_2.csv");
  EXPECT_EQ(p.json, "/out/ait_cmp_summary_20250101120000_2.json");
  EXPECT_EQ(p.html, "/out/ait_cmp_report_20250101120000_2.html");
}

TEST(DivergenceReports, JsonListsRootCausesWithEvidenceAndEveryOperation) {
  OpPairing ops;
  ops.ops = {Op("0", "Linear_1_2:MatMul", "1_2_0", 2, {"x"}, {"y"}), Op("0", "Linear_1_2", "1_2", 1, {"x"}, {"y"})};
  ops.ops[0].layer = ops.ops[1].layer = "Layer_1";
  DivergenceReport r = AnalyzeDivergence(ops, {Scored("x", 1), Scored("y", 0.5, 0.9, 7)}, {});
  CompareSummary summary;
  summary.pairs = 2;
  auto j = BuildSummaryJson(ops, r, summary, ReportPathsFor("/o/ait_cmp_report_1.csv"));
  ASSERT_EQ(j["root_causes"].size(), 1u);
  const auto& rc = j["root_causes"][0];
  EXPECT_EQ(rc["my_name"], "Linear_1_2:MatMul");
  EXPECT_EQ(rc["operation"], "Linear_1_2");
  EXPECT_EQ(rc["op_type"], "Linear");
  EXPECT_EQ(rc["op_id"], "1_2_0");
  EXPECT_EQ(rc["token_id"], "0");
  EXPECT_EQ(rc["layer"], "Layer_1");
  EXPECT_EQ(rc["evidence"]["output_cosine"], 0.5);
  EXPECT_EQ(rc["evidence"]["input_cosine"], 1.0);
  EXPECT_EQ(rc["evidence"]["output_max_relative_error"], 7.0);
  EXPECT_EQ(rc["evidence"]["cosine_threshold"], 0.99);
  EXPECT_EQ(j["operations"].size(), 2u);
  EXPECT_EQ(j["operations"][1]["verdict"], "introducing");
  EXPECT_EQ(j["operations"][1]["root_cause"], false);
  EXPECT_EQ(j["reports"]["json"], "/o/ait_cmp_summary_1.json");
  EXPECT_EQ(j["verdicts"]["introducing"], 2);
}

TEST(DivergenceReports, HtmlIsSelfContainedAndEscapesNamesFromTheDump) {
  TempDir dir;
  OpPairing ops;
  ops.ops = {Op("0", "Evil</script><b>_0", "0", 0, {"x"}, {"y"})};
  DivergenceReport r = AnalyzeDivergence(ops, {Scored("x", 1), Scored("y", kNan)}, {});
  CompareSummary summary;
  ReportPaths paths = ReportPathsFor(dir.path() / "ait_cmp_report_1.csv");
  WriteHtmlReport(paths.html, ops, r, summary, paths);
  std::ifstream in(paths.html);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string html = ss.str();
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_EQ(html.find("</script><b>"), std::string::npos);
  EXPECT_NE(html.find("Evil&lt;/script&gt;&lt;b&gt;_0"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no fetches, only the SVG namespace
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
}

}  // namespace
}  // namespace ait
