// The overflow report line (ait/overflow_report.h): what the probe writes, what errcheck reads
// back (ours and the original's lines), and errcheck's summary of a report.
#include "ait/overflow_report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ait::overflow_report {
namespace {

TEST(OverflowReport, KindNames) {
  EXPECT_EQ(KindName({3, 0, 8}), "NaN");
  EXPECT_EQ(KindName({0, 1, 8}), "inf");
  EXPECT_EQ(KindName({2, 1, 8}), "NaN+inf");
  EXPECT_EQ(KindName({0, 0, 8}), "");
}

TEST(OverflowReport, FormatKeepsTheOriginalsPrefixAndAppendsTheRest) {
  EXPECT_EQ(FormatLine("A_1:K", -1), "Overflow detected! Operator name: A_1:K");  // the original's line
  EXPECT_EQ(FormatLine("A_1:K", 7), "Overflow detected! Operator name: A_1:K, execute count 7");
  EXPECT_EQ(FormatLine("A_1:K", 0, Values{5, 0, 100}),
            "Overflow detected! Operator name: A_1:K, execute count 0, kind NaN (5 NaN, 0 inf of 100 output values)");
  EXPECT_EQ(FormatLine("A_1:K", -1, Values{0, 1, 2}),
            "Overflow detected! Operator name: A_1:K, kind inf (0 NaN, 1 inf of 2 output values)");
  EXPECT_EQ(FormatLine("A_1:K", 3, Values{0, 0, 2}), "Overflow detected! Operator name: A_1:K, execute count 3");
}

TEST(OverflowReport, ParseReadsBackWhatFormatWrote) {
  for (int64_t count : {-1, 0, 12}) {
    for (const Values& v : {Values{1, 0, 9}, Values{0, 4, 9}, Values{2, 3, 9}, Values{0, 0, 9}}) {
      const auto line = ParseLine(FormatLine("LinearOperation_1_2:MatMul", count, v));
      ASSERT_TRUE(line);
      EXPECT_EQ(line->kernel, "LinearOperation_1_2:MatMul");
      EXPECT_EQ(line->execute_count, count);
      EXPECT_EQ(line->kind, KindName(v));
      if (!line->kind.empty()) {
        EXPECT_EQ(line->values, v);
      }
    }
  }
}

TEST(OverflowReport, ParseTakesTheOriginalsLinesAndKeepsOddSuffixesInThePath) {
  auto line = ParseLine("Overflow detected! Operator name: X_0_1:Y\r");
  ASSERT_TRUE(line);
  EXPECT_EQ(line->kernel, "X_0_1:Y");
  EXPECT_EQ(line->execute_count, -1);
  EXPECT_EQ(line->kind, "");
  // Not our suffixes: part of the path.
  line = ParseLine("Overflow detected! Operator name: X:Y, execute count x");
  EXPECT_EQ(line->kernel, "X:Y, execute count x");
  line = ParseLine("Overflow detected! Operator name: X:Y, kind NaN (0 NaN, 1 inf of 2 output values)");
  EXPECT_EQ(line->kernel, "X:Y, kind NaN (0 NaN, 1 inf of 2 output values)");  // the kind contradicts the counts
  line = ParseLine("Overflow detected! Operator name: X:Y, kind NaN (1 NaN, 0 inf)");
  EXPECT_EQ(line->kernel, "X:Y, kind NaN (1 NaN, 0 inf)");
  EXPECT_FALSE(ParseLine("Overflow: X:Y"));
  EXPECT_FALSE(ParseLine(""));
}

TEST(OverflowReport, SummaryCountsKindsAndNamesTheFirstKernelAndToken) {
  const std::vector<std::string> lines = {
      FormatLine("RmsNormOperation_1_8:RmsNorm", 0, Values{41, 0, 4096}),
      FormatLine("LinearOperation_1_9:MatMul", 0, Values{0, 2, 64}),
      FormatLine("LinearOperation_1_10:MatMul", 0, Values{3, 0, 64}),
  };
  EXPECT_EQ(Summary(lines), "3 overflows detected (2 NaN, 1 inf); first: RmsNormOperation_1_8:RmsNorm, "
                            "execute count 0 (NaN)");
  EXPECT_EQ(Summary({FormatLine("A:B", 4, Values{1, 1, 2})}),
            "1 overflow detected (1 NaN+inf); first: A:B, execute count 4 (NaN+inf)");
  // Lines of a host that announces no kind (real ATB): no kind counts unless some line has one.
  EXPECT_EQ(Summary({FormatLine("A:B", 1), FormatLine("C:D", 2)}), "2 overflows detected; first: A:B, execute count 1");
  EXPECT_EQ(Summary({FormatLine("A:B", -1), FormatLine("C:D", 2, Values{1, 0, 1})}),
            "2 overflows detected (1 NaN, 1 kind not reported); first: A:B");
  EXPECT_EQ(Summary({"garbage"}), "1 overflow detected; first: garbage");
  EXPECT_EQ(Summary({}), "0 overflows detected");
}

}  // namespace
}  // namespace ait::overflow_report
