// opcheck's pieces on constructed input: the filters, the operation CSV and op_param.json
// readers, the precision standards and the scoring of one output (NaN/inf, the RMS floor,
// integers, shapes), the report's columns and rows.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ait/error.h"
#include "ait/opcheck_run.h"
#include "opcheck/case_discovery.h"
#include "opcheck/opcheck_report.h"
#include "opcheck/output_score.h"
#include "opcheck/reference.h"

namespace ait::opcheck {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor Floats(DType dtype, const std::vector<float>& values) {
  Tensor t = Tensor::Allocate(dtype, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kFloat32) reinterpret_cast<float*>(t.mutable_data())[i] = values[i];
    else reinterpret_cast<int32_t*>(t.mutable_data())[i] = static_cast<int32_t>(values[i]);
  }
  return t;
}

RefTensor Ref(DType dtype, std::vector<double> values) {
  RefTensor r;
  r.dtype = dtype;
  r.shape = {static_cast<int64_t>(values.size())};
  r.data = std::move(values);
  return r;
}

TEST(CaseFilter, IdsMatchDescendantsNamesAreCaseInsensitiveSubstringsBothMustMatch) {
  CaseFilter ids{{"2", "24_1"}, {}};
  EXPECT_TRUE(ids.Matches("2", "X"));
  EXPECT_TRUE(ids.Matches("2_3_5", "X"));
  EXPECT_TRUE(ids.Matches("24_1_0", "X"));
  EXPECT_FALSE(ids.Matches("24", "X"));
  EXPECT_FALSE(ids.Matches("20", "X"));
  CaseFilter names{{}, {"linear", "SELF"}};
  EXPECT_TRUE(names.Matches("1", "LinearOperation"));
  EXPECT_TRUE(names.Matches("1", "SelfAttentionOperation"));
  EXPECT_TRUE(names.Matches("1", "LinearParallelOperation"));
  EXPECT_FALSE(names.Matches("1", "RmsNormOperation"));
  CaseFilter both{{"1"}, {"linear"}};
  EXPECT_TRUE(both.Matches("1_3", "LinearOperation"));
  EXPECT_FALSE(both.Matches("2_3", "LinearOperation"));
  EXPECT_FALSE(both.Matches("1_4", "RopeOperation"));
  EXPECT_TRUE(CaseFilter{}.Matches("7", "Anything"));
}

TEST(ParseIdList, SplitsTrimsAndRejectsWhatIsNotAnId) {
  EXPECT_EQ(ParseIdList({"2, 3_1", "4"}), (std::vector<std::string>{"2", "3_1", "4"}));
  EXPECT_EQ(ParseIdList({""}), std::vector<std::string>{});
  EXPECT_THROW(ParseIdList({"2_a"}), Error);
  EXPECT_THROW(ParseIdList({"_2"}), Error);
  try {
    ParseIdList({"x"});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("-ids"), std::string::npos) << e.what();
  }
}

TEST(ParseOperationCsv, TakesOpNameAndOpParamEvenWithBarsInTheParam) {
  const std::string text =
      "CaseNum|CaseName|OpName|OpParam|InNum|OutNum\n"
      "1|LinearOperation_1_11|LinearOperation_1_1|{\"hasBias\":false}|2|1\r\n"
      "2|X_02|X_0|{\"s\":\"a|b\"}|1|1\n";
  const auto ops = ParseOperationCsv(text, "t.csv");
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].name, "LinearOperation_1_1");
  EXPECT_EQ(ops[0].param, "{\"hasBias\":false}");
  EXPECT_EQ(ops[1].param, "{\"s\":\"a|b\"}");
  EXPECT_THROW(ParseOperationCsv("", "t.csv"), Error);
  EXPECT_THROW(ParseOperationCsv("a|b\n1|2\n", "t.csv"), Error);
  EXPECT_THROW(ParseOperationCsv("CaseNum|OpName|OpParam|InNum\n1|X_0\n", "t.csv"), Error);
}

TEST(ReadParamText, ObjectsParseEverythingElseIsAReason) {
  CaseSpec spec;
  ReadParamText(spec, "{\"axis\": 0}");
  EXPECT_TRUE(spec.param_error.empty());
  EXPECT_EQ(spec.param["axis"], 0);
  ReadParamText(spec, "  ");
  EXPECT_TRUE(spec.param_error.empty());
  EXPECT_TRUE(spec.param.is_object() && spec.param.empty());
  ReadParamText(spec, "[1, 2]");
  EXPECT_EQ(spec.param_error, "op_param.json is not a JSON object");
  ReadParamText(spec, "{\"a\": ");
  EXPECT_EQ(spec.param_error, "op_param.json is not valid JSON");
  ReadParamText(spec, std::string(500, '[') + std::string(500, ']'));
  EXPECT_NE(spec.param_error.find("nests deeper"), std::string::npos);
}

TEST(StandardFor, IsTheOriginalsTableKeyedByCanonicalDtype) {
  EXPECT_EQ(StandardFor(DType::kFloat16).Text(), "99.9%(error<0.001)");
  EXPECT_EQ(StandardFor(DType::kBFloat16).Text(), "99.6%(error<0.004)");
  EXPECT_EQ(StandardFor(DType::kFloat32).Text(), "99.99%(error<0.0001)");
  EXPECT_EQ(StandardFor(DType::kFloat64).Text(), "99.99%(error<0.0001)");
  EXPECT_EQ(StandardFor(DType::kInt8).Text(), "99.9%(error<1)");
  EXPECT_EQ(StandardFor(DType::kUInt8).Text(), "99%(error<1)");
  EXPECT_EQ(StandardFor(DType::kBool).Text(), "100%(error<0.0001)");
}

TEST(ScoreOutput, PassesAtTheRequiredRateAndNamesTheWorstElement) {
  // 10000 elements, one off by 1 %: 99.99 % within 1e-4 passes (rate >= required).
  std::vector<float> out(10000, 1.0f);
  std::vector<double> ref(10000, 1.0);
  out[1234] = 1.01f;
  OutputCheck c = ScoreOutput(Floats(DType::kFloat32, out), Ref(DType::kFloat32, ref), 0, {});
  EXPECT_TRUE(c.passed) << c.fail_reason;
  EXPECT_DOUBLE_EQ(c.rel_rate, 99.99);
  EXPECT_NEAR(c.max_rel, 0.01, 1e-6);
  EXPECT_EQ(c.worst.substr(0, 7), "[1234]:");
  out[99] = 0.5f;
  c = ScoreOutput(Floats(DType::kFloat32, out), Ref(DType::kFloat32, ref), 0, {});
  EXPECT_FALSE(c.passed);
  EXPECT_EQ(c.fail_reason, "relative pass rate: 99.98 not met standard: 99.99.");
}

TEST(ScoreOutput, MatchingNanAndInfPassOneSidedOnesFail) {
  OutputCheck c = ScoreOutput(Floats(DType::kFloat32, {NAN, INFINITY, 1}), Ref(DType::kFloat32, {kNan, kInf, 1}), 0, {});
  EXPECT_TRUE(c.passed);
  EXPECT_EQ(c.max_rel, 0);
  c = ScoreOutput(Floats(DType::kFloat32, {NAN, 2, 1}), Ref(DType::kFloat32, {1, 2, 1}), 0, {});
  EXPECT_FALSE(c.passed);
  EXPECT_TRUE(std::isinf(c.max_rel));
  c = ScoreOutput(Floats(DType::kFloat32, {-INFINITY, 2, 1}), Ref(DType::kFloat32, {kInf, 2, 1}), 0, {});
  EXPECT_FALSE(c.passed);
}

TEST(ScoreOutput, ElementsNearZeroAreJudgedAgainstTheRmsFloor) {
  // rms = 1: an element whose reference is 1e-6 and whose value is off by 1e-8 (a cancelled
  // sum's rounding) passes; judged relative to itself it would be 1 % off.
  std::vector<float> out(100, 1.0f);
  std::vector<double> ref(100, 1.0);
  out[0] = 1.01e-6f;
  ref[0] = 1e-6;
  EXPECT_TRUE(ScoreOutput(Floats(DType::kFloat32, out), Ref(DType::kFloat32, ref), 0, {}).passed);
  // Where the reference is 0, a non-zero output is an absolute error, not a free pass.
  std::vector<float> zeros(100, 0.0f);
  std::vector<double> zref(100, 0.0);
  zeros[5] = 0.5f;
  OutputCheck c = ScoreOutput(Floats(DType::kFloat32, zeros), Ref(DType::kFloat32, zref), 0, {});
  EXPECT_FALSE(c.passed);
  EXPECT_DOUBLE_EQ(c.max_rel, 0.5);
}

TEST(ScoreOutput, IntegersAreAbsoluteAndShapesMustHoldTheSameElements) {
  OutputCheck c = ScoreOutput(Floats(DType::kInt32, {3, 4, 5}), Ref(DType::kInt32, {3, 4, 6}), 2, {});
  EXPECT_FALSE(c.passed);
  EXPECT_EQ(c.index, 2);
  EXPECT_DOUBLE_EQ(c.max_rel, 1);
  c = ScoreOutput(Floats(DType::kFloat32, {1, 2}), Ref(DType::kFloat32, {1, 2, 3}), 0, {});
  EXPECT_FALSE(c.passed);
  EXPECT_FALSE(c.scored);
  EXPECT_NE(c.fail_reason.find("does not hold the reference's [3]"), std::string::npos) << c.fail_reason;
}

TEST(ScoreOutput, OptionalMetrics) {
  MetricSet all{true, true, true};
  OutputCheck c = ScoreOutput(Floats(DType::kFloat32, {1, 2, 3}), Ref(DType::kFloat32, {1, 2, 3}), 0, all);
  ASSERT_TRUE(c.abs_rate && c.max_abs && c.cosine && c.kl);
  EXPECT_DOUBLE_EQ(*c.abs_rate, 100);
  EXPECT_DOUBLE_EQ(*c.cosine, 1.0);
  EXPECT_NEAR(*c.kl, 0, 1e-12);
  c = ScoreOutput(Floats(DType::kFloat32, {1, 2, 3}), Ref(DType::kFloat32, {1, 2, 3}), 0, {});
  EXPECT_FALSE(c.abs_rate || c.cosine || c.kl);
}

TEST(OpcheckReport, ColumnsInTheOriginalsOrderThenOurs) {
  EXPECT_EQ(ReportColumns({}, false),
            (std::vector<std::string>{"op_id", "op_name", "op_param", "tensor_path", "out_tensor_id",
                                      "precision_standard", "precision_result", "rel_precision_rate(%)",
                                      "max_rel_error", "fail_reason", "token", "worst_element"}));
  const auto all = ReportColumns({true, true, true}, true);
  const std::vector<std::string> middle(all.begin() + 9, all.end());
  EXPECT_EQ(middle, (std::vector<std::string>{"abs_precision_rate(%)", "max_abs_error", "cosine_similarity",
                                              "kl_divergence", "fail_reason", "token", "worst_element",
                                              "rerun_vs_dump"}));
}

TEST(OpcheckReport, UnsupportedCasesComeLastAndEveryRowFitsTheColumns) {
  OpcheckCase unsupported;
  unsupported.op_id = "0";
  unsupported.status = CaseStatus::kUnsupported;
  unsupported.fail_reason = "no float64 reference for FooOperation";
  OpcheckCase checked;
  checked.op_id = "1";
  checked.status = CaseStatus::kPassed;
  OutputCheck o;
  o.passed = o.scored = true;
  o.rel_rate = 100;
  checked.outputs = {o, o};
  const MetricSet metrics{true, false, true};
  const auto rows = ReportRows({unsupported, checked}, metrics, false);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0][0].text, "1");
  EXPECT_EQ(rows[2][0].text, "0");
  EXPECT_EQ(rows[2][6].text, "addition failed");
  for (const auto& row : rows) EXPECT_EQ(row.size(), ReportColumns(metrics, false).size());
  EXPECT_TRUE(rows[0][7].number);
  EXPECT_EQ(rows[0][7].text, "100.0000000000000000");
}

}  // namespace
}  // namespace ait::opcheck
