// The `.bin` header (FORMATS.md 1.1).
#include "probe/tensor_bin.h"

#include <gtest/gtest.h>

namespace ait::probe {
namespace {

TEST(TensorBinHeader, MatchesTheOriginalsUnitTestExample) {
  EXPECT_EQ(TensorBinHeader("2", "1", "1,1,2", true, 4),
            "$Version=1.0\n$Object.Count=1\n$Object.Length=4\nformat=2\ndtype=1\ndims=1,1,2\n$Object.data=0,4\n$End=1\n");
}

TEST(TensorBinHeader, DescriptionOnlyHasNoObject) {
  EXPECT_EQ(TensorBinHeader("2", "0", "3,64", false, 768),
            "$Version=1.0\n$Object.Count=0\n$Object.Length=0\nformat=2\ndtype=0\ndims=3,64\n$End=1\n");
}

TEST(TensorBinHeader, ZeroDimensionalTensorHasEmptyDims) {
  EXPECT_EQ(TensorBinHeader("2", "9", "", true, 8),
            "$Version=1.0\n$Object.Count=1\n$Object.Length=8\nformat=2\ndtype=9\ndims=\n$Object.data=0,8\n$End=1\n");
}

TEST(IsHeaderValue, RejectsWhatWouldBreakTheHeader) {
  EXPECT_TRUE(IsHeaderValue("1,2,3"));
  EXPECT_TRUE(IsHeaderValue(""));
  EXPECT_TRUE(IsHeaderValue("-1"));
  EXPECT_FALSE(IsHeaderValue("1\n$End=1"));
  EXPECT_FALSE(IsHeaderValue("a=b"));
  EXPECT_FALSE(IsHeaderValue(std::string("1\0", 2)));
}

}  // namespace
}  // namespace ait::probe
