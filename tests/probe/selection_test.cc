// Which operations and executions get saved: IsTensorNeedSave and IsExecuteCountInRange
// (FORMATS.md 3.3, examples of 3.5).
#include <gtest/gtest.h>

#include "probe/config.h"
#include "probe_test_util.h"

namespace ait::probe {
namespace {

using testing::ConfigFrom;

Config Tensor(std::map<std::string, std::string> vars) {
  vars["ATB_DUMP_TYPE"] = "tensor";
  return ConfigFrom(vars);
}

TEST(IsTensorNeedSave, NeedsTheTensorDumpType) {
  EXPECT_FALSE(ConfigFrom({{"ATB_DUMP_TYPE", "layer"}}).IsTensorNeedSave({1}, "LinearOperation"));
  EXPECT_TRUE(ConfigFrom({{"ATB_DUMP_TYPE", "layer|tensor"}}).IsTensorNeedSave({1}, "LinearOperation"));
}

TEST(IsTensorNeedSave, NoIdsAndNoNamesSelectsEverything) {
  const Config c = Tensor({});
  EXPECT_TRUE(c.IsTensorNeedSave({0}, "GatherOperation"));
  EXPECT_TRUE(c.IsTensorNeedSave({3, 1, 0}, "LinearOperation"));
  EXPECT_TRUE(c.IsTensorNeedSave({}, ""));
}

TEST(IsTensorNeedSave, IdsWithChildrenSelectTheOpAndEveryDescendant) {
  const Config c = Tensor({{"ATB_SAVE_TENSOR_IDS", "2,3_1"}, {"ATB_SAVE_CHILD", "1"}});
  EXPECT_TRUE(c.IsTensorNeedSave({2}, "X"));
  EXPECT_TRUE(c.IsTensorNeedSave({2, 0}, "X"));
  EXPECT_TRUE(c.IsTensorNeedSave({2, 3, 5}, "X"));
  EXPECT_TRUE(c.IsTensorNeedSave({3, 1}, "X"));
  EXPECT_TRUE(c.IsTensorNeedSave({3, 1, 0}, "X"));  // a kernel of 3_1
  EXPECT_FALSE(c.IsTensorNeedSave({21}, "X"));      // a prefix only at an id boundary
  EXPECT_FALSE(c.IsTensorNeedSave({3}, "X"));       // the parent of 3_1
  EXPECT_FALSE(c.IsTensorNeedSave({3, 10}, "X"));
  EXPECT_FALSE(c.IsTensorNeedSave({1}, "X"));
}

TEST(IsTensorNeedSave, IdsWithoutChildrenSelectExactlyThoseOps) {
  const Config c = Tensor({{"ATB_SAVE_TENSOR_IDS", "2,3_1"}, {"ATB_SAVE_CHILD", "0"}});
  EXPECT_TRUE(c.IsTensorNeedSave({2}, "X"));
  EXPECT_TRUE(c.IsTensorNeedSave({3, 1}, "X"));
  EXPECT_FALSE(c.IsTensorNeedSave({2, 0}, "X"));
  EXPECT_FALSE(c.IsTensorNeedSave({3, 1, 0}, "X"));  // kernels have longer ids
  // ATB_SAVE_CHILD unset means no children too.
  EXPECT_FALSE(Tensor({{"ATB_SAVE_TENSOR_IDS", "2"}}).IsTensorNeedSave({2, 0}, "X"));
}

TEST(IsTensorNeedSave, IdsAcceptSpacesAroundElements) {
  // The user guide's own example, `-ids 2, 3_1`.
  const Config c = Tensor({{"ATB_SAVE_TENSOR_IDS", "2, 3_1"}});
  EXPECT_TRUE(c.IsTensorNeedSave({3, 1}, "X"));
  EXPECT_TRUE(c.IsTensorNeedSave({2}, "X"));
}

TEST(IsTensorNeedSave, OpNamesArePrefixesOfTheLowerCasedOperationName) {
  const Config c = Tensor({{"ATB_SAVE_TENSOR_RUNNER", "self,linear"}});
  EXPECT_TRUE(c.IsTensorNeedSave({1, 5}, "SelfAttentionOperation"));
  EXPECT_TRUE(c.IsTensorNeedSave({1, 5, 2}, "SelfAttentionOperation"));  // its kernels carry its name
  EXPECT_TRUE(c.IsTensorNeedSave({4}, "LinearOperation"));
  EXPECT_TRUE(c.IsTensorNeedSave({4}, "LINEAROPERATION"));
  EXPECT_FALSE(c.IsTensorNeedSave({1}, "LlamaLayer"));
  EXPECT_FALSE(c.IsTensorNeedSave({1}, "MySelfAttention"));  // prefix, not substring
  // The list itself is not lower-cased (the CLI does that).
  EXPECT_FALSE(Tensor({{"ATB_SAVE_TENSOR_RUNNER", "Self"}}).IsTensorNeedSave({1}, "SelfAttentionOperation"));
}

TEST(IsTensorNeedSave, IdsAndNamesAreOred) {
  const Config c = Tensor({{"ATB_SAVE_TENSOR_IDS", "0"}, {"ATB_SAVE_TENSOR_RUNNER", "rmsnorm"}});
  EXPECT_TRUE(c.IsTensorNeedSave({0}, "GatherOperation"));
  EXPECT_TRUE(c.IsTensorNeedSave({1, 0}, "RmsNormOperation"));
  EXPECT_FALSE(c.IsTensorNeedSave({1, 1}, "LinearOperation"));
}

TEST(IsTensorNeedSave, EmptyElementsSelectNothingExtra) {
  // A trailing comma must not turn into "every name starts with the empty string".
  const Config c = Tensor({{"ATB_SAVE_TENSOR_RUNNER", "self,"}, {"ATB_SAVE_TENSOR_IDS", "7,,"}});
  EXPECT_FALSE(c.IsTensorNeedSave({1}, "LinearOperation"));
  EXPECT_TRUE(c.IsTensorNeedSave({7}, "LinearOperation"));
  // Nothing but separators: as if unset.
  EXPECT_TRUE(Tensor({{"ATB_SAVE_TENSOR_IDS", " , "}}).IsTensorNeedSave({1}, "X"));
}

bool InRange(const char* range, uint64_t count) {
  return ConfigFrom({{"ATB_SAVE_TENSOR_RANGE", range}}).IsExecuteCountInRange(count);
}

TEST(IsExecuteCountInRange, UnsetIsFalse) { EXPECT_FALSE(ConfigFrom({}).IsExecuteCountInRange(0)); }

TEST(IsExecuteCountInRange, ZeroZeroIsTheFirstExecutionOnly) {
  EXPECT_TRUE(InRange("0,0", 0));
  EXPECT_FALSE(InRange("0,0", 1));
}

TEST(IsExecuteCountInRange, PairsAreInclusive) {
  EXPECT_FALSE(InRange("1,3", 0));
  EXPECT_TRUE(InRange("1,3", 1));
  EXPECT_TRUE(InRange("1,3", 2));
  EXPECT_TRUE(InRange("1,3", 3));
  EXPECT_FALSE(InRange("1,3", 4));
}

TEST(IsExecuteCountInRange, SeveralPairs) {
  std::vector<uint64_t> selected;
  for (uint64_t i = 0; i < 10; ++i)
    if (InRange("3,5,7,7", i)) selected.push_back(i);
  EXPECT_EQ(selected, (std::vector<uint64_t>{3, 4, 5, 7}));
}

TEST(IsExecuteCountInRange, ATrailingOddElementIsIgnored) {
  EXPECT_TRUE(InRange("0,1,5", 1));
  EXPECT_FALSE(InRange("0,1,5", 5));
  EXPECT_FALSE(InRange("5", 5));
}

TEST(IsExecuteCountInRange, GarbageNeverThrowsAndSelectsNothing) {
  EXPECT_FALSE(InRange("", 0));
  EXPECT_FALSE(InRange("a,b", 0));
  EXPECT_FALSE(InRange(",", 0));
  EXPECT_FALSE(InRange("0,x,2,4", 0));  // the broken pair is skipped ...
  EXPECT_TRUE(InRange("0,x,2,4", 3));   // ... the next one still counts
  EXPECT_TRUE(InRange(" 1 , 2 ", 2));   // spaces around numbers are fine
  EXPECT_FALSE(InRange("99999999999999999999,1", 0));
  EXPECT_TRUE(InRange("-5,1", 0));
  EXPECT_FALSE(InRange("0,-1", 0));
}

TEST(IsExecuteCountInRange, LargeCounts) {
  EXPECT_TRUE(InRange("0,9223372036854775807", uint64_t{1} << 62));
  EXPECT_FALSE(InRange("0,10", uint64_t{1} << 63));
}

}  // namespace
}  // namespace ait::probe
