#include <gtest/gtest.h>

#include <algorithm>

#include "compare/pairing/pair_by_path.h"
#include "ait/tensor_io.h"
#include "test_util.h"

namespace ait {
namespace {

using testing::TempDir;

std::vector<std::string> Sorted(std::vector<std::string> v,
                                const std::unordered_map<std::string, size_t>& order = {}) {
  std::sort(v.begin(), v.end(), [&](const auto& a, const auto& b) { return ExecutionOrderLess(a, b, order); });
  return v;
}

TEST(ExecutionOrder, FollowsTokensOperationIdsAndBeforeChildrenAfter) {
  std::vector<std::string> expected = {
      "0/2_Layer/before/intensor0.bin",
      "0/2_Layer/before/intensor1.bin",
      "0/2_Layer/before/intensor10.bin",
      "0/2_Layer/1_LinearOperation/after/outtensor0.bin",
      "0/2_Layer/2_LinearOperation/after/outtensor0.bin",
      "0/2_Layer/10_ElewiseOperation/after/outtensor0.bin",
      "0/2_Layer/after/outtensor0.bin",
      "0/10_Norm/after/outtensor0.bin",
      "2/2_Layer/after/outtensor0.bin",
      "10/2_Layer/after/outtensor0.bin",
  };
  std::vector<std::string> shuffled(expected.rbegin(), expected.rend());
  std::swap(shuffled[1], shuffled[6]);
  EXPECT_EQ(Sorted(shuffled), expected);
}

TEST(ExecutionOrder, TorchModulesCompleteChildrenFirst) {
  std::vector<std::string> expected = {
      "0/root.model.layers.2.mlp/output.pth",
      "0/root.model.layers.2/input_0.pth",
      "0/root.model.layers.2/output_0.pth",
      "0/root.model.layers.10/output_0.pth",
      "0/root.model/output.pth",
  };
  std::vector<std::string> shuffled(expected.rbegin(), expected.rend());
  EXPECT_EQ(Sorted(shuffled), expected);
}

TEST(ExecutionOrder, ModelTreeOrderWinsForTorchModules) {
  std::unordered_map<std::string, size_t> order = {{"root.model", 0}, {"root.lm_head", 1}, {"root", 2}};
  EXPECT_EQ(Sorted({"0/root.lm_head/output.pth", "0/root.model/output.pth"}, order),
            (std::vector<std::string>{"0/root.model/output.pth", "0/root.lm_head/output.pth"}));
}

void Touch(const std::filesystem::path& p) {
  std::filesystem::create_directories(p.parent_path());
  WriteTensor(p.string(), Tensor::Allocate(DType::kFloat32, {2}));
}

TEST(PairByRelativePath, DescendsIntoDevicePidFoldersWithDifferentPids) {
  TempDir dir;
  auto g = dir.path() / "g" / "ait_dump" / "tensors" / "0_111";
  auto m = dir.path() / "m" / "ait_dump" / "tensors" / "1_222";
  for (auto* root : {&g, &m}) {
    Touch(*root / "1" / "3_Layer" / "after" / "outtensor0.bin");
    Touch(*root / "0" / "3_Layer" / "after" / "outtensor0.bin");
  }
  Touch(g / "0" / "4_Extra" / "after" / "outtensor0.bin");
  Touch(m / "0" / "5_Mine" / "after" / "outtensor0.bin");
  PairingResult r = PairByRelativePath(dir.path() / "g", dir.path() / "m");
  ASSERT_EQ(r.pairs.size(), 2u);
  EXPECT_EQ(r.golden_root, g);
  EXPECT_EQ(r.my_root, m);
  EXPECT_EQ(r.pairs[0].token_id, "0");
  EXPECT_EQ(r.pairs[1].token_id, "1");
  EXPECT_EQ(r.pairs[0].data_id, "0");
  EXPECT_EQ(r.pairs[1].data_id, "1");
  EXPECT_EQ(r.pairs[0].golden_path, (g / "0/3_Layer/after/outtensor0.bin").string());
  EXPECT_EQ(r.pairs[0].my_path, (m / "0/3_Layer/after/outtensor0.bin").string());
  EXPECT_EQ(r.only_in_golden, (std::vector<std::string>{"0/4_Extra/after/outtensor0.bin"}));
  EXPECT_EQ(r.only_in_my, (std::vector<std::string>{"0/5_Mine/after/outtensor0.bin"}));
}

TEST(PairByRelativePath, RejectsAFileWhereAFolderIsNeeded) {
  TempDir dir;
  Touch(dir.path() / "x.bin");
  EXPECT_THROW(PairByRelativePath(dir.path() / "x.bin", dir.path()), Error);
}

}  // namespace
}  // namespace ait
