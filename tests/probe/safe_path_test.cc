// Host-supplied paths and names never leave the output root.
#include "probe/safe_path.h"

#include <gtest/gtest.h>

namespace ait::probe {
namespace {

TEST(IsSafeRelativePath, AcceptsAtbTensorPaths) {
  EXPECT_TRUE(IsSafeRelativePath("0_4242/0/3_LlamaLayer/5_SelfAttentionOperation/after/outtensor0.bin"));
  EXPECT_TRUE(IsSafeRelativePath("x.bin"));
  EXPECT_TRUE(IsSafeRelativePath("a/.hidden/b..c/...x"));  // dots inside names are names
}

TEST(IsSafeRelativePath, RejectsEscapesAndOddComponents) {
  for (const std::string& bad : std::vector<std::string>
       {"", "/etc/passwd", "../x.bin", "a/../../x.bin", "a/..", "./x.bin", "a/./b", "a//b", "a/b/", "/",
        std::string("a\0b", 3), "a\nb", "a/\tb", std::string("a/b\x7f")}) {
    EXPECT_FALSE(IsSafeRelativePath(bad)) << bad;
  }
}

TEST(IsSafeFileName, OneComponentOnly) {
  EXPECT_TRUE(IsSafeFileName("LlamaLayer_1"));
  EXPECT_TRUE(IsSafeFileName("Model.v2"));
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "a/b", "/x", "x\n", std::string("x\0", 2)})
    EXPECT_FALSE(IsSafeFileName(bad)) << bad;
}

}  // namespace
}  // namespace ait::probe
