#include <gtest/gtest.h>

#include <fstream>

#include "ait/csv_report.h"
#include "test_util.h"

namespace ait {
namespace {

TEST(PythonFloatRepr, MatchesPythonRepr) {
  EXPECT_EQ(PythonFloatRepr(1.0), "1.0");
  EXPECT_EQ(PythonFloatRepr(0.1), "0.1");
  EXPECT_EQ(PythonFloatRepr(1e-05), "1e-05");
  EXPECT_EQ(PythonFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PythonFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PythonFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(PythonFloatRepr(-2.5), "-2.5");
  EXPECT_EQ(PythonFloatRepr(0.0), "0.0");
  EXPECT_EQ(PythonFloatRepr(static_cast<double>(0.1f)), "0.10000000149011612");
  EXPECT_EQ(PythonFloatRepr(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(PythonFloatRepr(-std::numeric_limits<double>::infinity()), "-inf");
}

CompareRow Row(const std::string& gdtype, const std::string& mdtype) {
  CompareRow r;
  r.pair = {"0", "0", "g.bin", "m.bin", "x"};
  r.golden = TensorInfo{gdtype, "[1, 2]", true, {}};
  r.my = TensorInfo{mdtype, "[1, 2]", true, {}};
  return r;
}

TEST(DropMixedInt8Rows, RemovesEveryMixedRowIncludingConsecutiveOnes) {
  std::vector<CompareRow> rows = {Row("torch.int8", "torch.float16"), Row("torch.float16", "torch.int8"),
                                  Row("torch.int8", "torch.int8"), Row("torch.float32", "torch.float16")};
  EXPECT_EQ(DropMixedInt8Rows(rows), 2u);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].golden->dtype, "torch.int8");
  EXPECT_EQ(rows[1].golden->dtype, "torch.float32");
}

TEST(CsvReport, HasTheOriginalsColumnsThenOperationColumnsQuotingAndEmptyMetricCellsOnFailure) {
  testing::TempDir dir;
  CompareRow ok = Row("torch.float32", "torch.float16");
  ok.pair.my_name = "LinearOperation_1_2";
  ok.pair.my_type = "LinearOperation";
  ok.pair.golden_name = "root.layers.1.attn.k_proj";
  ok.pair.golden_type = "Linear";
  ok.pair.match = "mapped";
  ok.golden->stats = {3.0, -1.0, 0.5, 0, 0};
  ok.my->stats = {3.0, -1.0, 0.5, 0, 0};
  PairMetrics m;
  m.cosine_similarity = 0.9999999999;
  m.max_relative_error = 0.25;
  ok.metrics = m;
  CompareRow bad = Row("torch.float32", "torch.float16");
  bad.pair.data_id = "1";
  bad.fail_reason = "data shape doesn't match.";
  auto path = WriteCsvReport(dir.path() / "out", {ok, bad});
  EXPECT_EQ(path.parent_path(), dir.path() / "out");
  EXPECT_TRUE(path.filename().string().starts_with("ait_cmp_report_"));
  std::ifstream in(path);
  std::string header, line1, line2;
  std::getline(in, header);
  std::getline(in, line1);
  std::getline(in, line2);
  EXPECT_EQ(header,
            "token_id,data_id,golden_data_path,golden_dtype,golden_shape,golden_max_value,golden_min_value,"
            "golden_mean_value,my_data_path,my_dtype,my_shape,my_max_value,my_min_value,my_mean_value,"
            "cosine_similarity,max_relative_error,mean_relative_error,max_absolute_error,mean_absolute_error,"
            "kl_divergence,relative_euclidean_distance,cmp_fail_reason,"
            "my_op_name,my_op_type,golden_op_name,golden_op_type,match,"
            "op_verdict,local_error,expected_local_error,root_cause");
  EXPECT_EQ(CsvColumns().size(), kOriginalCsvColumns + kExtraCsvColumns);
  EXPECT_EQ(CsvColumns()[kOriginalCsvColumns - 1], "cmp_fail_reason");
  EXPECT_EQ(line1,
            "0,0,g.bin,torch.float32,\"[1, 2]\",3.0,-1.0,0.5,m.bin,torch.float16,\"[1, 2]\",3.0,-1.0,0.5,"
            "0.9999999999,0.25,0.0,0.0,0.0,0.0,0.0,,"
            "LinearOperation_1_2,LinearOperation,root.layers.1.attn.k_proj,Linear,mapped,,,,");
  EXPECT_EQ(line2,
            "0,1,g.bin,torch.float32,\"[1, 2]\",0.0,0.0,0.0,m.bin,torch.float16,\"[1, 2]\",0.0,0.0,0.0,,,,,,,,"
            "data shape doesn't match.,,,,,,,,,");
  // A second report in the same second gets its own name instead of replacing the first.
  auto second = WriteCsvReport(dir.path() / "out", {ok});
  EXPECT_NE(second, path);
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(Summarize, NamesTheFirstPairBelowThresholdInExecutionOrder) {
  std::vector<CompareRow> rows(4, Row("torch.float32", "torch.float32"));
  double cos[] = {0.9999, 0.95, 0.5, 0.999};
  for (int i = 0; i < 4; ++i) {
    PairMetrics m;
    m.cosine_similarity = cos[i];
    rows[i].metrics = m;
    rows[i].pair.label = "op" + std::to_string(i);
  }
  rows[3].metrics.reset();
  rows[3].fail_reason = "my_data includes NAN or inf.";
  CompareSummary s = Summarize(rows, 0.99, 2);
  EXPECT_EQ(s.compared, 3u);
  EXPECT_EQ(s.failed, 1u);
  ASSERT_TRUE(s.first_divergent);
  EXPECT_EQ(*s.first_divergent, 1u);
  EXPECT_EQ(s.worst, (std::vector<size_t>{2, 1}));
  std::string text = FormatSummary(s, rows);
  EXPECT_NE(text.find("First divergence"), std::string::npos);
  EXPECT_NE(text.find("op1"), std::string::npos);
  EXPECT_NE(text.find("1 x my_data includes NAN or inf."), std::string::npos);
}

}  // namespace
}  // namespace ait
