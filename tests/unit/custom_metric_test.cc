// Custom metrics (-alg) as the library sees them: C++ callbacks on the loaded tensors, two CSV
// columns each, an exception a row's message. The Python side is tested in
// tests/python/test_compare_flags.py.
#include <gtest/gtest.h>

#include <cstring>

#include <atomic>
#include <fstream>
#include <sstream>

#include "ait/compare_run.h"
#include "ait/csv_report.h"
#include "ait/error.h"
#include "ait/log.h"
#include "ait/tensor_io.h"
#include "unit/synthetic_dumps.h"

namespace ait {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

Tensor Filled(std::vector<int64_t> shape, std::initializer_list<float> values) {
  Tensor t = Tensor::Allocate(DType::kFloat32, std::move(shape));
  std::copy(values.begin(), values.end(), reinterpret_cast<float*>(t.mutable_data()));
  return t;
}

CustomMetric SumDiff() {
  return {"sum_diff", [](const Tensor& g, const Tensor& m) {
            // The bytes of a tensor read from a file need not be aligned (an ATB .bin payload).
            auto at = [](const Tensor& t, int64_t i) {
              float v;
              std::memcpy(&v, static_cast<const char*>(static_cast<const void*>(t.data)) + i * sizeof(float), sizeof v);
              return v;
            };
            double s = 0;
            for (int64_t i = 0; i < g.numel(); ++i) s += at(m, i) - at(g, i);
            return CustomMetricValue{PythonFloatRepr(s), g.ShapeString()};
          }};
}

CustomMetric Throws() {
  return {"throws", [](const Tensor&, const Tensor&) -> CustomMetricValue { throw Error("ValueError: nope"); }};
}

TEST(CustomMetric, CalledOnScoredPairsWithTheTensorsAsRead) {
  CompareOptions options;
  options.custom_metrics = {SumDiff(), Throws()};
  CompareRow r = CompareTensors(Filled({2, 2}, {1, 2, 3, 4}), Filled({2, 2}, {1, 2, 3, 5}), options);
  ASSERT_TRUE(r.metrics);
  ASSERT_EQ(r.custom.size(), 2u);
  EXPECT_EQ(r.custom[0].value, "1.0");
  EXPECT_EQ(r.custom[0].message, "[2, 2]");
  EXPECT_EQ(r.custom[1].value, "");
  EXPECT_EQ(r.custom[1].message, "ValueError: nope");
  EXPECT_EQ(r.fail_reason, "");  // a metric's failure is no failed pair

  // Not called where the pre-check fails: the cells stay empty.
  CompareRow bad = CompareTensors(Filled({2}, {1, 2}), Filled({3}, {1, 2, 3}), options);
  EXPECT_FALSE(bad.metrics);
  EXPECT_TRUE(bad.custom.empty());
  const std::vector<std::string> cells = CsvCells(bad, 2);
  ASSERT_EQ(cells.size(), kOriginalCsvColumns + kExtraCsvColumns + 4);
  for (size_t i = kOriginalCsvColumns + kExtraCsvColumns; i < cells.size(); ++i) EXPECT_EQ(cells[i], "");
}

TEST(CustomMetric, ColumnsFollowTheOthersAndMustNotRepeat) {
  const std::vector<std::string> cols = CsvColumns({"sum_diff", "throws"});
  ASSERT_EQ(cols.size(), CsvColumns().size() + 4);
  EXPECT_EQ(cols[cols.size() - 4], "sum_diff");
  EXPECT_EQ(cols[cols.size() - 3], "sum_diff_message");
  EXPECT_EQ(cols[cols.size() - 2], "throws");
  EXPECT_EQ(cols.back(), "throws_message");
  EXPECT_THROW(CsvColumns({"f", "f"}), Error);
  EXPECT_THROW(CsvColumns({"cosine_similarity"}), Error);
  EXPECT_THROW(CsvColumns({"f", "f_message"}), Error);
  EXPECT_THROW(CsvColumns({""}), Error);
  EXPECT_EQ(CsvCells(CompareRow{}).size(), CsvColumns().size());  // without custom metrics: as before
}

TEST(CustomMetric, RunCompareWritesTheColumnsForEveryRowCalledFromWorkerThreads) {
  SetLogLevel(LogLevel::kError);
  TempDir dir;
  testing::WriteAtbDump(dir.path() / "atb", testing::EngineModel(2, testing::EngineLayerOps()), true, {"0", "1"});
  std::atomic<int> calls{0};
  CompareRequest request;
  request.golden = request.my = dir.path() / "atb";
  request.output = dir.path() / "out";
  request.custom_metrics = {SumDiff(),
                            {"count", [&](const Tensor&, const Tensor&) {
                               ++calls;
                               return CustomMetricValue{"1", ""};
                             }}};
  CompareResult r = RunCompare(request);
  ASSERT_FALSE(r.rows.empty());
  EXPECT_EQ(calls.load(), static_cast<int>(r.rows.size()));  // the CSV's rows, not the analysis' other pairs
  for (const CompareRow& row : r.rows) {
    ASSERT_EQ(row.custom.size(), 2u);
    EXPECT_EQ(row.custom[0].value, "0.0");  // a dump against itself
  }
  std::ifstream in(r.reports.csv);
  std::string header;
  std::getline(in, header);
  EXPECT_TRUE(header.ends_with(",root_cause,sum_diff,sum_diff_message,count,count_message")) << header;
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> cells = CsvCells(r.rows[0], 2);
  ASSERT_EQ(cells.size(), CsvColumns().size() + 4);
  EXPECT_EQ(cells[cells.size() - 4], "0.0");
  EXPECT_EQ(cells[cells.size() - 3], r.rows[0].golden->shape);
  EXPECT_EQ(cells[cells.size() - 2], "1");
  EXPECT_TRUE(line.ends_with(",0.0,\"" + r.rows[0].golden->shape + "\",1,")) << line;

  request.custom_metrics.push_back(SumDiff());  // two columns of one name
  EXPECT_THROW(RunCompare(request), Error);
}

}  // namespace
}  // namespace ait
