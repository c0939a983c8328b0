// Operation/kernel IO CSV rows (FORMATS.md 2.5).
#include "probe/io_csv.h"

#include <gtest/gtest.h>

namespace ait::probe {
namespace {

TEST(IoCsv, HeaderHas21PipeSeparatedColumns) {
  const std::string& h = IoCsvHeader();
  EXPECT_EQ(h,
            "CaseNum|CaseName|OpName|OpParam|InNum|InDType|InFormat|InShape|OutNum|OutDType|OutFormat|OutShape|"
            "DataGenType|DataGenRange|InTensorFile|OutTensorFile|TestType|TestLevel|FromModel|SocVersion|"
            "ExpectedError\n");
  EXPECT_EQ(std::count(h.begin(), h.end(), '|'), 20);
}

TEST(IoCsv, RowJoinsTensorsWithSemicolonsAndPrefixesEveryPath) {
  const std::vector<atb::Probe::Tensor> in = {{"float16", "nd", "65024,4096", "0_9/0/1_L/1_LinearOperation/after/intensor0.bin"},
                                              {"int64", "nd", "8,1024", "0_9/0/1_L/1_LinearOperation/after/intensor1.bin"}};
  const std::vector<atb::Probe::Tensor> out = {{"bf16", "fractal_nz", "8,65024", "0_9/0/1_L/1_LinearOperation/after/outtensor0.bin"}};
  const std::string row = IoCsvRow(3, "LinearOperation_1_1", R"({"hasBias":false})", in, out, "/abs/ait_dump/tensors/");
  EXPECT_EQ(row,
            "3|LinearOperation_1_13|LinearOperation_1_1|{\"hasBias\":false}|2|float16;int64|nd;nd|65024,4096;8,1024|"
            "1|bf16|fractal_nz|8,65024|customize| |"
            "/abs/ait_dump/tensors/0_9/0/1_L/1_LinearOperation/after/intensor0.bin;"
            "/abs/ait_dump/tensors/0_9/0/1_L/1_LinearOperation/after/intensor1.bin|"
            "/abs/ait_dump/tensors/0_9/0/1_L/1_LinearOperation/after/outtensor0.bin| | | | |NO_ERROR\n");
  EXPECT_EQ(std::count(row.begin(), row.end(), '|'), 20);
}

TEST(IoCsv, EmptySidesAndLineBreaksInParams) {
  const std::string row = IoCsvRow(1, "Softmax", "axis=1\nscale=2", {}, {}, "/r/");
  EXPECT_EQ(row, "1|Softmax1|Softmax|axis=1 scale=2|0||||0||||customize| ||| | | | |NO_ERROR\n");
  EXPECT_EQ(std::count(row.begin(), row.end(), '|'), 20);
}

TEST(IoCsv, CaseNumIsTheLineCountCappedAt10000) {
  EXPECT_EQ(NextCaseNum(0), 1u);
  EXPECT_EQ(NextCaseNum(1), 1u);  // header only
  EXPECT_EQ(NextCaseNum(2), 2u);
  EXPECT_EQ(NextCaseNum(9999), 9999u);
  EXPECT_EQ(NextCaseNum(10000), 10000u);
  EXPECT_EQ(NextCaseNum(20000), 10000u);
}

}  // namespace
}  // namespace ait::probe
